# SDFN on Shoes (paper Table 1: R@1 22.07 / R@10 57.56 (57.65 in Table 3) / R@50 80.88): batch 16, 30 epochs,
# decay at 15; AMC's protocol (SDFN compares with AMC's table): scan pairs on the current 4,658-name eval list
# (17,954 training entries = 1,122 batches of 16 per epoch, 3,521 queries, gallery 4,658), reference excluded.
_base_ = [
    '_base_/models/sdfn_r50_lstm.py', '_base_/datasets/shoes.py',
    '_base_/schedules/sdfn_adam_shoes.py', '_base_/default_runtime.py'
]
train_dataloader = dict(batch_size=16)
model = dict(text_encoder=dict(vocab_dataset={{_base_.train_dataset}}))
# best epoch by R@1 + R@10 + R@50 (docs/sdfn.md, Training recipe)
default_hooks = dict(checkpoint=dict(save_best='shoes/mean', rule='greater'))
custom_hooks = [dict(type='PrepareGalleryHook'), dict(type='EpochReseedHook'), dict(type='PathMemoryHook')]
