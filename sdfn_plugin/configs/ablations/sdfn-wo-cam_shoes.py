# SDFN ablation (paper Table 3, row "SDFN w/o CAM") on shoes: router='msr', consistency=True, SPD=True.
_base_ = ['../sdfn_shoes.py']
model = dict(
    fusion=dict(router='msr', modules=('JRM', 'GTM', 'RCM')),
    losses=[
        dict(type='BatchClassificationLoss', scale=10.0),
        dict(type='GramConsistencyLoss', loss_weight=1.0),
        dict(type='SelfPathDistillationLoss', temperature=4.0, loss_weight=1.0),
    ])
