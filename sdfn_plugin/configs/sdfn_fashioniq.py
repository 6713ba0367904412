# SDFN on FashionIQ (paper Table 2, VAL protocol): batch 32, 60 epochs, lr x0.1 at 50; text "c0 <and> c1"
# with a reserved <and> token; evaluation per category with dress/shirt/toptee R@10 and R@50, avg/R@10,
# avg/R@50 and avg. This config trains ONE model on the three categories jointly (one run gives the whole
# table). The paper follows AMC's regime of one model per category: use sdfn_fashioniq-{dress,shirt,toptee}.py
# to reproduce its rows.
_base_ = [
    '_base_/models/sdfn_r50_lstm.py', '_base_/datasets/fashioniq.py',
    '_base_/schedules/sdfn_adam_fashioniq.py', '_base_/default_runtime.py'
]
model = dict(text_encoder=dict(specials=('<and>', ), vocab_dataset={{_base_.train_dataset}}))
default_hooks = dict(checkpoint=dict(save_best='avg', rule='greater'))
custom_hooks = [dict(type='PrepareGalleryHook'), dict(type='EpochReseedHook'), dict(type='PathMemoryHook')]
