# SDFN on Fashion200K (paper Table 1: R@1 26.3 / R@10 51.1 / R@50 72.6): batch 64, 50 epochs, decay at 30;
# TIRG's test protocol (33,480 queries, 29,789 images, a hit = any image with the target's caption).
# Training queries are derived deterministically per index (seeded), so the self path distillation memory
# row of a sample always refers to the same query.
_base_ = [
    '_base_/models/sdfn_r50_lstm.py', '_base_/datasets/fashion200k.py',
    '_base_/schedules/sdfn_adam_fashion200k.py', '_base_/default_runtime.py'
]
train_dataloader = dict(batch_size=64)
model = dict(text_encoder=dict(vocab_dataset={{_base_.vocab_dataset}}))
default_hooks = dict(checkpoint=dict(save_best='fashion200k/mean', rule='greater'))
custom_hooks = [dict(type='PrepareGalleryHook'), dict(type='EpochReseedHook'), dict(type='PathMemoryHook')]
