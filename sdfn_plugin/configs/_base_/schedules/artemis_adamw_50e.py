# ARTEMIS stage 2 (naver/artemis scripts/release_script.sh, train.py, option.py): everything fine-tuned from the
# stage-1 checkpoint, batch 32, 50 epochs, lr x0.5 every 10 epochs (Fashion200K: see its config). The official
# stage 2 resumes the stage-1 AdamW (train.py --ckpt loads the optimizer state): its moments are kept and the
# learning rate is the one stage 1 ended with, 5e-4 halved at epoch 4 = 2.5e-4. Here: lr 2.5e-4 and
# LoadOptimizerStateHook (in the stage-2 configs' custom_hooks) loads the stage-1 moments from load_from.
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2.5e-4))
param_scheduler = [dict(type='StepLR', by_epoch=True, step_size=10, gamma=0.5)]
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=1)
auto_scale_lr = dict(base_batch_size=32, enable=False)
