# Built-in synthetic CSS-style benchmark, generated into `data_root` on first use.
# When you change data_root, change it in train/val/test and in the model's
# text_encoder.vocab_dataset (the vocabulary is built from the training texts).
dataset_type = 'CSSDataset'
data_root = 'data/css'

train_pipeline = [dict(type='LoadCIRImages', keys=('ref', 'tgt')), dict(type='PackCIRInputs')]
test_pipeline = [dict(type='LoadCIRImages', keys=('ref', )), dict(type='PackCIRInputs')]

train_dataset = dict(
    type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline,
    seed=0, num_train=10000, num_test=2000, image_size=64)
test_dataset = dict(
    type=dataset_type, data_root=data_root, split='test', pipeline=test_pipeline, test_mode=True,
    seed=0, num_train=10000, num_test=2000, image_size=64)

train_dataloader = dict(
    batch_size=32, num_workers=1, persistent_workers=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True), dataset=train_dataset)
val_dataloader = dict(
    batch_size=128, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False), dataset=test_dataset)
test_dataloader = val_dataloader

val_evaluator = dict(type='RecallAtK', topk=(1, 10, 50))
test_evaluator = val_evaluator
