# SDFN ablation (paper Table 3, row "SDFN w/o RCM") on fashioniq: router='msr', consistency=True, SPD=True.
_base_ = ['../sdfn_fashioniq.py']
model = dict(
    fusion=dict(router='msr', modules=('JRM', 'CAM', 'GTM')),
    losses=[
        dict(type='BatchClassificationLoss', scale=10.0),
        dict(type='GramConsistencyLoss', loss_weight=1.0),
        dict(type='SelfPathDistillationLoss', temperature=4.0, loss_weight=1.0),
    ])
