# TIRG (ResNet-18 + LSTM) on Shoes, AMC's protocol (scan pairs on the 4,658-name eval list: 3,521 queries), AMC/SDFN transforms.
_base_ = [
    '_base_/models/tirg_r18_lstm.py', '_base_/datasets/shoes.py',
    '_base_/schedules/tirg_sgd_50e.py', '_base_/default_runtime.py'
]
model = dict(text_encoder=dict(vocab_dataset={{_base_.train_dataset}}))
# AMC selects the epoch by R@1 + R@10 + R@50 on the eval split (there is no other split).
default_hooks = dict(checkpoint=dict(save_best='shoes/mean', rule='greater'))
