# ARTEMIS (Delmas et al., ICLR 2022) on shoes, stage 2 of 2: fine-tune everything from the stage-1
# checkpoint (official --img_finetune --txt_finetune). Train artemis-stage1_shoes.py first (default
# work dir below), or pass --cfg-options load_from=<stage-1 checkpoint>.
_base_ = [
    '_base_/models/artemis_r50_bigru.py', '_base_/datasets/shoes.py',
    '_base_/schedules/artemis_adamw_50e.py', '_base_/default_runtime.py'
]
# ARTEMIS's protocol (naver/artemis prepare_data/prepare_shoes_data.py): triplets with both images in the split
# list, on the original 4,621-name eval list: 8,990 training triplets, 1,732 queries, gallery 4,621.
shoes_protocol = dict(pairs='filter', eval_list='original_4621')
train_dataloader = dict(dataset=dict(pairs='filter'))
val_dataloader = dict(dataset=shoes_protocol)
test_dataloader = val_dataloader
shoes_vocab = dict(type='ShoesDataset', data_root={{_base_.data_root}}, split='train', pairs='filter')
model = dict(
    text_encoder=dict(vocab_dataset=shoes_vocab),
)
load_from = 'work_dirs/artemis-stage1_shoes/epoch_8.pth'
default_hooks = dict(checkpoint=dict(save_best='shoes/mean', rule='greater'))
# the stage-1 AdamW moments continue (official train.py --ckpt); the lr 2.5e-4 is the schedule's
custom_hooks = [dict(type='PrepareGalleryHook'), dict(type='EpochReseedHook'), dict(type='LoadOptimizerStateHook')]
