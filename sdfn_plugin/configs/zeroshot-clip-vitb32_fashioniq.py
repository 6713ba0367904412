# Zero-shot composed retrieval on FashionIQ (VAL protocol, per-category R@10/R@50): the query is the sum of the
# normalised CLIP image and text embeddings (ZeroShotSum); nothing is trained. Evaluate directly:
#   python tools/test.py configs/zeroshot-clip-vitb32_fashioniq.py --no-checkpoint
#   mim test sdfn_plugin zeroshot-clip-vitb32_fashioniq.py --checkpoint none
# Captions are joined by the dataset's ' <and> ', which CLIP's BPE tokenizer reads as '<', 'and', '>'.
_base_ = ['_base_/models/clip_vitb32.py', '_base_/datasets/fashioniq.py', '_base_/default_runtime.py']
model = dict(
    fusion=dict(type='ZeroShotSum', image_dim={{_base_.clip_dim}}, text_dim={{_base_.clip_dim}},
                embed_dim={{_base_.clip_dim}}),
    # the retriever needs a training objective; evaluation never calls it
    losses=[dict(type='BatchClassificationLoss', scale=100.0)],
)
# nothing to train: the Runner accepts no train_dataloader only together with no train_cfg and optim_wrapper
train_dataloader = None
