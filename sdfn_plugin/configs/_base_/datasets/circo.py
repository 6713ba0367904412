# CIRCO (Baldrati et al., ICCV 2023; annotations miccunifi/CIRCO, CC BY-NC 4.0), docs/datasets.md (CIRCO).
# A zero-shot benchmark: no training split. val = 220 queries with 1-14 ground truths each (mean 4.16);
# test = 800 queries whose ground truth is hidden (scored by the authors' evaluation server).
# Gallery (both splits): the COCO 2017 unlabeled images (123,403), listed by COCO's
# image_info_unlabeled2017.json (image_info=None: by the files <12-digit id>.jpg of image_dir); reference
# excluded from its own ranking. Query text = the relative caption (as the official code).
# Transforms: CLIP's view, shorter side 224 then centre crop 224 (CLIP resizes bicubically; this is bilinear).
# Each transform names its one image role (keys=...), as FeatureCacheHook splits pipelines by role.
# Metric names: circo/mAP@5, circo/mAP@10, circo/mAP@25, circo/mAP@50 (all ground truths) and
# circo/R@5 ... circo/R@50 (the annotated target only).
# The test split's server file:
#   python tools/test.py CONFIG [CKPT | --no-checkpoint] --cfg-options test_dataloader.dataset.split=test \
#       --submission work_dirs/circo_submission        # -> circo_test.json, validated
dataset_type = 'CIRCODataset'
data_root = 'data/circo'

test_pipeline = [
    dict(type='LoadCIRImages', keys=('ref', )),
    dict(type='ResizeImages', size=224, keys=('ref', )),
    dict(type='CenterCropImages', size=224, keys=('ref', )),
    dict(type='PackCIRInputs'),
]
gallery_pipeline = [
    dict(type='LoadCIRImages', keys=('img', )),
    dict(type='ResizeImages', size=224, keys=('img', )),
    dict(type='CenterCropImages', size=224, keys=('img', )),
    dict(type='PackCIRInputs'),
]

val_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline,
                 gallery_pipeline=gallery_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='CIRCOmAP', topk=(5, 10, 25, 50))
test_evaluator = val_evaluator
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
