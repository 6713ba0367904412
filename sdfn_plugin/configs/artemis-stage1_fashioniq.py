# ARTEMIS (Delmas et al., ICLR 2022) on fashioniq, stage 1 of 2: CNN and GloVe embeddings frozen (the BiGRU, the
# image fc, the ARTEMIS modules and the temperature train), 8 epochs. Stage 2 (artemis_fashioniq.py) fine-tunes
# everything from this run's last checkpoint (one-stage training gives poor results, naver/artemis issue #1).
# The CNN is frozen through requires_grad only, as the official code: its BatchNorm layers stay in train mode
# (batch statistics, running statistics updated); frozen_eval=True would keep them in eval mode.
_base_ = [
    '_base_/models/artemis_r50_bigru.py', '_base_/datasets/fashioniq.py',
    '_base_/schedules/artemis_adamw_stage1.py', '_base_/default_runtime.py'
]
model = dict(
    image_encoder=dict(frozen_stages=4, frozen_eval=False),
    text_encoder=dict(specials=('<and>', ), freeze_embeddings=True, vocab_dataset={{_base_.train_dataset}}),
)
default_hooks = dict(checkpoint=dict(save_best='avg', rule='greater'))
