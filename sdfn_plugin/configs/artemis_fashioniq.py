# ARTEMIS (Delmas et al., ICLR 2022) on fashioniq, stage 2 of 2: fine-tune everything from the stage-1
# checkpoint (official --img_finetune --txt_finetune). Train artemis-stage1_fashioniq.py first (default
# work dir below), or pass --cfg-options load_from=<stage-1 checkpoint>.
_base_ = [
    '_base_/models/artemis_r50_bigru.py', '_base_/datasets/fashioniq.py',
    '_base_/schedules/artemis_adamw_50e.py', '_base_/default_runtime.py'
]
model = dict(
    text_encoder=dict(specials=('<and>', ), vocab_dataset={{_base_.train_dataset}}),
)
load_from = 'work_dirs/artemis-stage1_fashioniq/epoch_8.pth'
default_hooks = dict(checkpoint=dict(save_best='avg', rule='greater'))
# the stage-1 AdamW moments continue (official train.py --ckpt); the lr 2.5e-4 is the schedule's
custom_hooks = [dict(type='PrepareGalleryHook'), dict(type='EpochReseedHook'), dict(type='LoadOptimizerStateHook')]
