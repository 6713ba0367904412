# TIRG (ResNet-18 + LSTM, ImageNet weights, learnable-scale classification loss) on CIRR: SGD 50 epochs as
# tirg_fashioniq.py, vocabulary from the CIRR training captions; CIRR's official evaluation (cirr/R@K,
# cirr/Rsubset@K), best epoch by cirr/avg. A recipe of this repository (CIRR published none for TIRG).
_base_ = [
    '_base_/models/tirg_r18_lstm.py', '_base_/datasets/cirr.py',
    '_base_/schedules/tirg_sgd_50e.py', '_base_/default_runtime.py'
]
model = dict(text_encoder=dict(vocab_dataset={{_base_.train_dataset}}))
default_hooks = dict(checkpoint=dict(save_best='cirr/avg', rule='greater'))
