# TIRG on your own triplets (docs/custom_triplets.md): copy this file, set data_root (or pass
# --cfg-options data_root=...), and adjust the schedule. The small CNN trains on CPU at 64 px; for real photos
# switch to '_base_/models/tirg_r18_lstm.py' and img_size = 224 (ImageNet ResNet-18).
_base_ = [
    '_base_/models/tirg_smallcnn_lstm.py', '_base_/datasets/custom_triplets.py',
    '_base_/schedules/css_adam.py', '_base_/default_runtime.py'
]
model = dict(text_encoder=dict(vocab_dataset={{_base_.vocab_dataset}}))
default_hooks = dict(checkpoint=dict(save_best='custom/mean', rule='greater'))
