# ARTEMIS (Delmas et al., ICLR 2022) on shoes, stage 1 of 2: CNN and GloVe embeddings frozen (the BiGRU, the
# image fc, the ARTEMIS modules and the temperature train), 8 epochs. Stage 2 (artemis_shoes.py) fine-tunes
# everything from this run's last checkpoint (one-stage training gives poor results, naver/artemis issue #1).
# The CNN is frozen through requires_grad only, as the official code: its BatchNorm layers stay in train mode
# (batch statistics, running statistics updated); frozen_eval=True would keep them in eval mode.
_base_ = [
    '_base_/models/artemis_r50_bigru.py', '_base_/datasets/shoes.py',
    '_base_/schedules/artemis_adamw_stage1.py', '_base_/default_runtime.py'
]
# ARTEMIS's protocol (naver/artemis prepare_data/prepare_shoes_data.py): triplets with both images in the split
# list, on the original 4,621-name eval list: 8,990 training triplets, 1,732 queries, gallery 4,621.
shoes_protocol = dict(pairs='filter', eval_list='original_4621')
train_dataloader = dict(dataset=dict(pairs='filter'))
val_dataloader = dict(dataset=shoes_protocol)
test_dataloader = val_dataloader
shoes_vocab = dict(type='ShoesDataset', data_root={{_base_.data_root}}, split='train', pairs='filter')
model = dict(
    image_encoder=dict(frozen_stages=4, frozen_eval=False),
    text_encoder=dict(freeze_embeddings=True, vocab_dataset=shoes_vocab),
)
default_hooks = dict(checkpoint=dict(save_best='shoes/mean', rule='greater'))
