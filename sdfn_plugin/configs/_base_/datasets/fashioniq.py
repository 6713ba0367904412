# FashionIQ, VAL protocol as reported by AMC and SDFN (docs/datasets.md): per category, the
# gallery is sorted(candidates + targets) of its val triplets (2,628 / 3,089 / 2,902 images), one query per
# triplet with text "c0 <and> c1" (2,017 / 2,038 / 1,961 queries), reference excluded.
# Switches: gallery='split' (original protocol, split.<cat>.val.json), caption_mode='concat_both' | 'single',
# image_layout='per_category' (img/<cat>/<ASIN>.jpg, AMC) instead of 'flat' (images/<ASIN>.jpg).
#
# Evaluation keeps categories apart: one val dataset, dataloader and RecallAtK (prefix = category) per
# category, run by MultiValLoop, which adds the table summaries. Metric names:
#   dress/R@10, dress/R@50, shirt/R@10, shirt/R@50, toptee/R@10, toptee/R@50,
#   avg/R@10, avg/R@50 (unweighted means over the categories) and avg = (avg/R@10 + avg/R@50) / 2.
# Training is joint over `fiq_categories` (VAL/TIRG/ARTEMIS style); for a per-category model (CoSMo, AMC)
# set fiq_categories = ('dress', ) in a derived config.
# Transforms as AMC / SDFN (docs/sdfn.md, Encoders): train Resize((256, 256)) + RandomCrop(224) + flip;
# eval Resize((256, 256)) + CenterCrop(224). Truncated JPEGs of public mirrors are decoded (allow_truncated).
dataset_type = 'FashionIQDataset'
data_root = 'data/fashioniq'
fiq_categories = ('dress', 'shirt', 'toptee')
gallery = 'val_union'
caption_mode = 'concat_one'
image_layout = 'flat'

train_pipeline = [
    dict(type='LoadCIRImages', keys=('ref', 'tgt'), allow_truncated=True),
    dict(type='ResizeImages', size=(256, 256)),
    dict(type='RandomCropImages', size=224),
    dict(type='RandomFlipImages', prob=0.5),
    dict(type='PackCIRInputs'),
]
test_pipeline = [
    dict(type='LoadCIRImages', keys=('ref', ), allow_truncated=True),
    dict(type='ResizeImages', size=(256, 256)),
    dict(type='CenterCropImages', size=224),
    dict(type='PackCIRInputs'),
]
gallery_pipeline = [
    dict(type='LoadCIRImages', keys=('img', ), allow_truncated=True),
    dict(type='ResizeImages', size=(256, 256)),
    dict(type='CenterCropImages', size=224),
    dict(type='PackCIRInputs'),
]

train_dataset = dict(
    type=dataset_type, data_root=data_root, split='train', categories=fiq_categories,
    caption_mode=caption_mode, image_layout=image_layout, pipeline=train_pipeline)
val_datasets = [
    dict(type=dataset_type, data_root=data_root, split='val', categories=cat, gallery=gallery,
         caption_mode=caption_mode, image_layout=image_layout, pipeline=test_pipeline,
         gallery_pipeline=gallery_pipeline, test_mode=True) for cat in fiq_categories
]

train_dataloader = dict(
    batch_size=32, num_workers=4, persistent_workers=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True), dataset=train_dataset)
val_dataloader = [
    dict(batch_size=64, num_workers=2, persistent_workers=False,
         sampler=dict(type='DefaultSampler', shuffle=False), dataset=ds) for ds in val_datasets
]
test_dataloader = val_dataloader

val_evaluator = [dict(type='RecallAtK', topk=(10, 50), prefix=cat) for cat in fiq_categories]
test_evaluator = val_evaluator
val_cfg = dict(type='MultiValLoop', summary=dict(name='avg', keys=('R@10', 'R@50')))
test_cfg = dict(type='MultiTestLoop', summary=dict(name='avg', keys=('R@10', 'R@50')))
