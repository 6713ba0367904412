# ARTEMIS (Delmas et al., ICLR 2022) on fashion200k, stage 2 of 2: fine-tune everything from the stage-1
# checkpoint (official --img_finetune --txt_finetune). Train artemis-stage1_fashion200k.py first (default
# work dir below), or pass --cfg-options load_from=<stage-1 checkpoint>.
_base_ = [
    '_base_/models/artemis_r50_bigru.py', '_base_/datasets/fashion200k.py',
    '_base_/schedules/artemis_adamw_50e.py', '_base_/default_runtime.py'
]
model = dict(
    image_encoder=dict(depth=18),  # ARTEMIS uses ResNet-18 on Fashion200K
    text_encoder=dict(vocab_dataset={{_base_.vocab_dataset}}),
)
train_dataloader = dict(batch_size=128)
# Fashion200K: batch 128, 100 epochs, lr x0.5 every 20 epochs (release_script.sh)
param_scheduler = [dict(type='StepLR', by_epoch=True, step_size=20, gamma=0.5)]
train_cfg = dict(max_epochs=100)
load_from = 'work_dirs/artemis-stage1_fashion200k/epoch_8.pth'
default_hooks = dict(checkpoint=dict(save_best='fashion200k/mean', rule='greater'))
# the stage-1 AdamW moments continue (official train.py --ckpt); the lr 2.5e-4 is the schedule's
custom_hooks = [dict(type='PrepareGalleryHook'), dict(type='EpochReseedHook'), dict(type='LoadOptimizerStateHook')]
