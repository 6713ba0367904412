# SDFN on FashionIQ, one model for the shirt category (the AMC / SDFN per-category regime; paper Table 2 row
# "shirt"): training triplets, vocabulary, evaluation and best-epoch selection use shirt only.
_base_ = ['sdfn_fashioniq.py']
_train = dict(categories=('shirt', ))
train_dataloader = dict(dataset=_train)
model = dict(text_encoder=dict(vocab_dataset=_train))
val_dataloader = [dict(
    batch_size=64, num_workers=2, persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='FashionIQDataset', data_root='data/fashioniq', split='val', categories='shirt',
                 gallery='val_union', caption_mode='concat_one', image_layout='flat', test_mode=True,
                 pipeline={{_base_.test_pipeline}}, gallery_pipeline={{_base_.gallery_pipeline}}))]
test_dataloader = val_dataloader
val_evaluator = [dict(type='RecallAtK', topk=(10, 50), prefix='shirt')]
test_evaluator = val_evaluator
