# CIRR (Liu et al., ICCV 2021), annotation version rc2, official protocol (docs/datasets.md, CIRR): the gallery is
# the split's whole image list (val: 2,297 images, 4,181 queries), the reference is excluded from its own ranking;
# metrics cirr/R@1, R@5, R@10, R@50, cirr/Rsubset@1, 2, 3 (the five other members of the query's image set,
# scored explicitly) and cirr/avg = (R@5 + Rsubset@1) / 2.
# Validation and test run on val (test1's targets are hidden). Evaluation-server files for test1:
#   python tools/test.py CONFIG CHECKPOINT --cfg-options test_dataloader.dataset.split=test1 --submission DIR
# writes DIR/test1_pred_ranks_recall.json and DIR/test1_pred_ranks_recall_subset.json (validated).
# Transforms: no flips (captions speak of left and right); train Resize(256) + RandomCrop(224), eval
# Resize(256) + CenterCrop(224) (shorter side; the NLVR2 photos have varied aspect ratios).
dataset_type = 'CIRRDataset'
data_root = 'data/cirr'

train_pipeline = [
    dict(type='LoadCIRImages', keys=('ref', 'tgt')),
    dict(type='ResizeImages', size=256),
    dict(type='RandomCropImages', size=224),
    dict(type='PackCIRInputs'),
]
test_pipeline = [
    dict(type='LoadCIRImages', keys=('ref', )),
    dict(type='ResizeImages', size=256),
    dict(type='CenterCropImages', size=224),
    dict(type='PackCIRInputs'),
]
gallery_pipeline = [
    dict(type='LoadCIRImages', keys=('img', )),
    dict(type='ResizeImages', size=256),
    dict(type='CenterCropImages', size=224),
    dict(type='PackCIRInputs'),
]

train_dataset = dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline)
test_dataset = dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline,
                    gallery_pipeline=gallery_pipeline, test_mode=True)

train_dataloader = dict(
    batch_size=32, num_workers=4, persistent_workers=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True), dataset=train_dataset)
val_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False), dataset=test_dataset)
test_dataloader = val_dataloader

val_evaluator = dict(type='CIRRRecall', topk=(1, 5, 10, 50), subset_topk=(1, 2, 3), prefix='cirr')
test_evaluator = val_evaluator
val_cfg = dict()
test_cfg = dict()
