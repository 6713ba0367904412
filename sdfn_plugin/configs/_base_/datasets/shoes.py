# Shoes (relative captions of XiaoxiaoGuo/fashion-retrieval on the Attribute Discovery images).
# Protocol (docs/datasets.md): AMC's, which SDFN's table compares with: scan-built pairs (KevinLight831/AMC
# datasets.py; every annotation touching a listed name, so in-split triplets twice) on the current 4,658-name
# eval list: 17,954 training entries, 3,521 evaluation queries, gallery = the 4,658 names, reference excluded,
# one correct target. AMC's test script looks every scan entry's images up in the gallery list, which fails on
# the original 4,621 list, so its published numbers use the 4,658 list. The scan training list also makes an
# epoch the length of AMC's (561 batches of 32), so epoch milestones count the same iterations.
# ARTEMIS configs switch to pairs='filter' on eval_list='original_4621' (8,990 / 1,732, gallery 4,621);
# VAL's gallery (4,621 list + every scan-pair image = 4,642) is gallery='val_union'.
# Transforms as AMC / SDFN (docs/sdfn.md, Encoders): train Resize((256, 256)) + CenterCrop(224), no
# augmentation; eval Resize((256, 256)) + CenterCrop(224); ImageNet mean/std in the data preprocessor.
# Metric names: shoes/R@1, shoes/R@10, shoes/R@50 and shoes/mean (their mean, SDFN's table).
# When you change data_root, change it in train/val/test and in model.text_encoder.vocab_dataset.
dataset_type = 'ShoesDataset'
data_root = 'data/shoes'
pairs = 'scan'  # 'filter' = both images in the split list (ARTEMIS), each triplet once
eval_list = 'current'  # 'original_4621' = the Jan 2019 list of the literature's 4,621-image gallery

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

train_dataset = dict(type=dataset_type, data_root=data_root, split='train', pairs=pairs, pipeline=train_pipeline)
test_dataset = dict(
    type=dataset_type, data_root=data_root, split='eval', pairs=pairs, eval_list=eval_list,
    pipeline=test_pipeline, gallery_pipeline=gallery_pipeline, test_mode=True)

train_dataloader = dict(
    batch_size=32, num_workers=4, persistent_workers=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True), dataset=train_dataset)
val_dataloader = dict(
    batch_size=64, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False), dataset=test_dataset)
test_dataloader = val_dataloader

val_evaluator = dict(type='RecallAtK', topk=(1, 10, 50), prefix='shoes', summary=True)
test_evaluator = val_evaluator
val_cfg = dict()
test_cfg = dict()
