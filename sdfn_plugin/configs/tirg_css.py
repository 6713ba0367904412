# TIRG on the built-in synthetic benchmark (the quick start).
_base_ = [
    '_base_/models/tirg_smallcnn_lstm.py', '_base_/datasets/css.py',
    '_base_/schedules/css_adam.py', '_base_/default_runtime.py'
]
model = dict(text_encoder=dict(vocab_dataset={{_base_.train_dataset}}))
default_hooks = dict(checkpoint=dict(save_best='retrieval/R@1', rule='greater'))
