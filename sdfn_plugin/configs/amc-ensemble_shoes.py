# AMC's two-model ensemble at test time (KevinLight831/AMC test_ensemble.py) on Shoes: the concatenation of the
# L2-normalised query / gallery features of two trained amc_shoes.py runs (score = sum of their cosines).
# Replace the two checkpoints by your runs' (e.g. two seeds), then:
#   mim test sdfn_plugin amc-ensemble_shoes.py --checkpoint none
# (the members load their own checkpoints; config paths are relative to the working directory).
_base_ = ['amc_shoes.py']
model = dict(
    _delete_=True,
    type='EnsembleRetriever',
    members=[
        dict(config='configs/amc_shoes.py', checkpoint='work_dirs/amc_shoes/run1.pth'),
        dict(config='configs/amc_shoes.py', checkpoint='work_dirs/amc_shoes/run2.pth'),
    ],
    topk=50,
)
# no EMA swap here: each member checkpoint already holds its EMA weights (mmengine's EMAHook saves them)
custom_hooks = [dict(type='PrepareGalleryHook')]
