# TIRG (ResNet-18 + LSTM) on Fashion200K with TIRG's protocol and 160k-iteration SGD recipe.
_base_ = [
    '_base_/models/tirg_r18_lstm.py', '_base_/datasets/fashion200k.py',
    '_base_/schedules/tirg_sgd_160k.py', '_base_/default_runtime.py'
]
# vocabulary: training captions + 'replace'/'with' (Fashion200kDataset.texts)
model = dict(text_encoder=dict(vocab_dataset={{_base_.vocab_dataset}}))
default_hooks = dict(checkpoint=dict(save_best='fashion200k/mean', rule='greater'))
