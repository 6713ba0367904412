# TIRG (ResNet-18 + LSTM) on FashionIQ: joint training on dress + shirt + toptee, evaluation per category
# (VAL gallery, "c0 <and> c1") with the avg/R@10, avg/R@50 and avg summaries (MultiValLoop).
_base_ = [
    '_base_/models/tirg_r18_lstm.py', '_base_/datasets/fashioniq.py',
    '_base_/schedules/tirg_sgd_50e.py', '_base_/default_runtime.py'
]
# '<and>' (the dataset's caption joiner) is a reserved token, not the word "and" (docs/sdfn.md, Encoders)
model = dict(text_encoder=dict(vocab_dataset={{_base_.train_dataset}}, specials=('<and>', )))
# Best epoch by the table's average of the six numbers (FashionIQ has no test labels: val is used for both).
default_hooks = dict(checkpoint=dict(save_best='avg', rule='greater'))
