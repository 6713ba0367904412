# Your own triplets (CIRTripletDataset; docs/custom_triplets.md). Files under data_root:
#   train.jsonl, val.jsonl   {"reference": "a.jpg", "target": "b.jpg" | ["b.jpg", ...], "caption": "..." | [...],
#                             "category": "..." (optional)} per line; .csv with a reference,target,caption header
#                             also works (several values in a cell separated by "|")
#   images/                  every image name of the annotation files, relative to this folder
# Evaluation: gallery = every image referenced by val.jsonl (or set gallery_file='val_gallery.txt', one name a
# line), every listed target is correct, the reference is excluded from its own ranking.
# Change the location with --cfg-options data_root=/path/to/yours: the tools carry a top-level data_root
# override into every dataset below, the vocabulary dataset included.
dataset_type = 'CIRTripletDataset'
data_root = 'data/my_triplets'
image_dir = 'images'
train_ann_file = 'train.jsonl'
val_ann_file = 'val.jsonl'
img_size = 64

train_pipeline = [
    dict(type='LoadCIRImages', keys=('ref', 'tgt')),
    dict(type='ResizeImages', size=(img_size, img_size)),
    dict(type='RandomFlipImages', prob=0.5),
    dict(type='PackCIRInputs'),
]
test_pipeline = [
    dict(type='LoadCIRImages', keys=('ref', )),
    dict(type='ResizeImages', size=(img_size, img_size)),
    dict(type='PackCIRInputs'),
]
gallery_pipeline = [
    dict(type='LoadCIRImages', keys=('img', )),
    dict(type='ResizeImages', size=(img_size, img_size)),
    dict(type='PackCIRInputs'),
]

train_dataset = dict(
    type=dataset_type, data_root=data_root, ann_file=train_ann_file, split='train', image_dir=image_dir,
    pipeline=train_pipeline)
val_dataset = dict(
    type=dataset_type, data_root=data_root, ann_file=val_ann_file, split='val', image_dir=image_dir,
    pipeline=test_pipeline, gallery_pipeline=gallery_pipeline, test_mode=True)
# Vocabulary source of the LSTM text encoder: the training captions (no image check needed to read them).
vocab_dataset = dict(
    type=dataset_type, data_root=data_root, ann_file=train_ann_file, split='train', image_dir=image_dir,
    check_images=False)

train_dataloader = dict(
    batch_size=32, num_workers=2, persistent_workers=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True), dataset=train_dataset)
val_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False), dataset=val_dataset)
test_dataloader = val_dataloader

val_evaluator = dict(type='RecallAtK', topk=(1, 10, 50), prefix='custom', summary=True)
test_evaluator = val_evaluator
