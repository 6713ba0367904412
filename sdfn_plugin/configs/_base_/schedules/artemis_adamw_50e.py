# ARTEMIS stage 2 (naver/artemis scripts/release_script.sh, option.py): everything fine-tuned from the stage-1
# checkpoint, AdamW lr 5e-4, batch 32, 50 epochs, lr x0.5 every 10 epochs (Fashion200K: see its config).
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=5e-4))
param_scheduler = [dict(type='StepLR', by_epoch=True, step_size=10, gamma=0.5)]
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=1)
auto_scale_lr = dict(base_batch_size=32, enable=False)
