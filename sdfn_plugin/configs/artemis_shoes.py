# ARTEMIS (Delmas et al., ICLR 2022) on shoes, stage 2 of 2: fine-tune everything from the stage-1
# checkpoint (official --img_finetune --txt_finetune). Train artemis-stage1_shoes.py first (default
# work dir below), or pass --cfg-options load_from=<stage-1 checkpoint>.
_base_ = [
    '_base_/models/artemis_r50_bigru.py', '_base_/datasets/shoes.py',
    '_base_/schedules/artemis_adamw_50e.py', '_base_/default_runtime.py'
]
model = dict(
    text_encoder=dict(vocab_dataset={{_base_.train_dataset}}),
)
load_from = 'work_dirs/artemis-stage1_shoes/epoch_8.pth'
default_hooks = dict(checkpoint=dict(save_best='shoes/mean', rule='greater'))
