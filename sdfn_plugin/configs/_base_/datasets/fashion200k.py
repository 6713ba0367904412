# Fashion200K with TIRG's composed-retrieval protocol (google/tirg datasets.py; docs/datasets.md, Fashion200K
# files and protocol): training queries from the parent/child caption scheme, one per training image and index
# (deterministic per index: stable across epochs, as per-sample memories need); test = the 33,480 lines of
# test_queries.txt against all 29,789 test images; a hit = any gallery image carrying the target's caption.
# Transforms as AMC / SDFN (docs/sdfn.md, Encoders): Resize((256, 256)) + CenterCrop(224) for train and eval.
# Metric names: fashion200k/R@1, fashion200k/R@10, fashion200k/R@50, fashion200k/mean.
dataset_type = 'Fashion200kDataset'
data_root = 'data/fashion200k'

train_pipeline = [
    dict(type='LoadCIRImages', keys=('ref', 'tgt')),
    dict(type='ResizeImages', size=(256, 256)),
    dict(type='CenterCropImages', size=224),
    dict(type='PackCIRInputs'),
]
test_pipeline = [
    dict(type='LoadCIRImages', keys=('ref', )),
    dict(type='ResizeImages', size=(256, 256)),
    dict(type='CenterCropImages', size=224),
    dict(type='PackCIRInputs'),
]
gallery_pipeline = [
    dict(type='LoadCIRImages', keys=('img', )),
    dict(type='ResizeImages', size=(256, 256)),
    dict(type='CenterCropImages', size=224),
    dict(type='PackCIRInputs'),
]

train_dataset = dict(
    type=dataset_type, data_root=data_root, split='train', deterministic=True, seed=0, pipeline=train_pipeline)
test_dataset = dict(
    type=dataset_type, data_root=data_root, split='test', match='caption', pipeline=test_pipeline,
    gallery_pipeline=gallery_pipeline, test_mode=True)
# Vocabulary source for the text encoder: the training captions (+ 'replace', 'with'); lazy_init skips
# sampling the 172k training queries and the image check just to read the captions.
vocab_dataset = dict(type=dataset_type, data_root=data_root, split='train', lazy_init=True)

train_dataloader = dict(
    batch_size=32, num_workers=4, persistent_workers=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True), dataset=train_dataset)
val_dataloader = dict(
    batch_size=128, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False), dataset=test_dataset)
test_dataloader = val_dataloader

val_evaluator = dict(type='RecallAtK', topk=(1, 10, 50), prefix='fashion200k', summary=True)
test_evaluator = val_evaluator
val_cfg = dict()
test_cfg = dict()
