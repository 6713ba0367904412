"""SDFN: Self-Distilled Dynamic Fusion Network (the fusion part).

Y. Wu, H. Li, F. Wang, Y. Zhang, R. Liang, "Self-Distilled Dynamic Fusion
Network for Language-based Fashion Retrieval", ICASSP 2024, arXiv 2405.15451
(no official code). Reconstruction: ``docs/sdfn.md`` (Operation modules, Routing); the
routing graph between stacked layers follows DIME (Qu et al., SIGIR 2021,
LgQu/DIME), the cells and the read-out follow AMC (KevinLight831/AMC). The two
losses that need this network's ``aux`` live in
``sdfn_plugin.models.losses`` (``GramConsistencyLoss``, ``SelfPathDistillationLoss``).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from sdfn_plugin.registry import MODELS
from sdfn_plugin.structures import FusionOutput, ImageFeatures, TextFeatures

from ..base import BaseFusion
from .modules import JRM_CONCATS, MODULE_TYPES, RCM_MODES
from .routers import (COMBINES, ROUTER_INPUTS, ROUTERS, ModalitySpecificRouter, SharedRouter, UniformRouter,
                      fused_logits, route_probs)

__all__ = ['SDFN']

_ROUTER_TYPES = {'msr': ModalitySpecificRouter, 'shared': SharedRouter, 'none': UniformRouter}


@MODELS.register_module()
class SDFN(BaseFusion):
    """Dynamic fusion of region tokens and text by K stacked layers of routed modules.

    Wiring (Eq. 3, doc Sec. 4.1): every module of layer 1 gets the reference
    tokens ``R``; for ``k < K`` module ``m``'s router emits a distribution
    ``p^(k)_{m->.}`` over the modules of layer ``k+1`` and

        ``X_j^(k+1) = sum_m p^(k)_{m->j} O_m^(k)``
        (divided by ``sum_m p^(k)_{m->j} + 1e-8`` when ``normalize_inputs``).

    Read-out (doc Sec. 4.3): in layer K each module's router emits one logit,
    ``a = combine(softmax_m(z_img), softmax_m(z_txt))``, ``F = sum_m a_m O_m^(K)``
    and the query is the region mean ``q = mean_n F[n]``.

    ``aux`` (all tensors have the batch first):

    * ``'paths'`` ``(B, P)``: routing probabilities, ``P = (K-1) n_M^2 + n_M``;
      layout ``[p^(1)[m=0, :], ..., p^(1)[m=n_M-1, :], ..., p^(K-1)[...], a]``,
      i.e. for each layer ``k < K`` the row-major ``(source, destination)``
      matrix, then the read-out vector. Module order = ``module_names``.
    * ``'route_logits_img'``, ``'route_logits_txt'`` ``(B, (K-1) n_M + 1, n_M)``
      (``router='msr'``): raw logits of the two routers, rows in the same order
      as ``'paths'`` (one row per distribution).
    * ``'route_logits'`` ``(B, (K-1) n_M + 1, n_M)``: single logits whose softmax
      is the routing (``router='shared'``, or ``'msr'`` with
      ``combine='product'|'logit_mean'``, where it is the fused logit). Absent
      for ``'msr'`` + ``'mean'`` and for ``router='none'``.
    * ``'last_inputs_pooled_sum'`` ``(B, C)``: ``z = sum_m mean_n X_m^(K)[n]``
      (consistency loss, doc Sec. 5.2).

    Args:
        image_dim, text_dim, embed_dim: must be equal (no projections: the
            modules mix region tokens, word features and the query in one space).
        modules: names of the operation modules per layer, any non-empty subset
            of ``('JRM', 'CAM', 'GTM', 'RCM')``; the order fixes the path layout.
        num_layers: K, number of stacked layers (>= 1).
        router: ``'msr'`` (image + text routers), ``'shared'`` (SR ablation) or
            ``'none'`` (uniform routing, the Baseline).
        combine: how MSR combines its two routers: ``'mean'`` of the two
            softmaxes, ``'product'`` (normalised product) or ``'logit_mean'``.
        router_input: image/shared routers read the module ``'input'`` tokens
            (default) or its ``'output'``.
        router_hidden: hidden size H of the routers; ``None`` -> ``embed_dim // 2``
            (512 for C = 1024, AMC's router width).
        num_heads: attention heads of JRM and CAM.
        ffn_ratio: JRM FFN hidden size / C.
        jrm_concat: ``'feature'`` or ``'token'`` (see :class:`JRM`).
        jrm_residual: residual around JRM's attention.
        rcm_mode: ``'ln'``, ``'identity'`` or ``'relu'`` (see :class:`RCM`).
        normalize_inputs: DIME-style normalisation of Eq. 3 over sources.
    """

    #: aux entries the retriever attaches per sample to the predictions.
    predict_aux_keys: Tuple[str, ...] = ('paths',)

    def __init__(self, image_dim: int = 1024, text_dim: int = 1024, embed_dim: int = 1024,
                 modules: Sequence[str] = ('JRM', 'CAM', 'GTM', 'RCM'), num_layers: int = 3,
                 router: str = 'msr', combine: str = 'mean', router_input: str = 'input',
                 router_hidden: Optional[int] = None, num_heads: int = 8, ffn_ratio: float = 0.5,
                 jrm_concat: str = 'feature', jrm_residual: bool = False, rcm_mode: str = 'ln',
                 normalize_inputs: bool = False) -> None:
        super().__init__(image_dim, text_dim, embed_dim)
        if not image_dim == text_dim == embed_dim:
            raise ValueError('SDFN needs image_dim == text_dim == embed_dim (its modules mix region tokens, '
                             'word features and the query in one space, without projections); got '
                             f'image_dim={image_dim}, text_dim={text_dim}, embed_dim={embed_dim}')
        names = self._check_modules(modules)
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f'SDFN.num_layers must be an int >= 1, got {num_layers!r}')
        for field, value, allowed in (('router', router, ROUTERS), ('combine', combine, COMBINES),
                                      ('router_input', router_input, ROUTER_INPUTS),
                                      ('jrm_concat', jrm_concat, JRM_CONCATS), ('rcm_mode', rcm_mode, RCM_MODES)):
            if value not in allowed:
                raise ValueError(f'SDFN.{field} must be one of {allowed}, got {value!r}')
        if any(n in ('JRM', 'CAM') for n in names) and (num_heads < 1 or embed_dim % num_heads):
            raise ValueError(f'SDFN.num_heads={num_heads} must divide embed_dim={embed_dim} (JRM/CAM attention)')
        hidden = router_hidden if router_hidden is not None else max(1, embed_dim // 2)
        if hidden < 1:
            raise ValueError(f'SDFN.router_hidden must be >= 1, got {router_hidden}')

        self.module_names: Tuple[str, ...] = names
        self.num_layers = num_layers
        self.router_type = router
        self.combine = combine
        self.router_input = router_input
        self.normalize_inputs = bool(normalize_inputs)
        n = len(names)
        #: number of routing distributions and path-vector length (doc Sec. 4.4)
        self.num_distributions = (num_layers - 1) * n + 1
        self.num_paths = (num_layers - 1) * n * n + n

        def build_module(name: str) -> nn.Module:
            if name == 'JRM':
                return MODULE_TYPES[name](embed_dim, num_heads=num_heads, ffn_ratio=ffn_ratio,
                                          concat=jrm_concat, residual=jrm_residual)
            if name == 'CAM':
                return MODULE_TYPES[name](embed_dim, num_heads=num_heads)
            if name == 'RCM':
                return MODULE_TYPES[name](embed_dim, mode=rcm_mode)
            return MODULE_TYPES[name](embed_dim)

        router_cls = _ROUTER_TYPES[router]
        self.layers = nn.ModuleList(
            [nn.ModuleDict({name: build_module(name) for name in names}) for _ in range(num_layers)])
        # Layer k < K routes to the n modules of layer k+1; layer K emits one read-out logit per module.
        self.routers = nn.ModuleList([
            nn.ModuleDict({name: router_cls(embed_dim, n if k < num_layers - 1 else 1, hidden) for name in names})
            for k in range(num_layers)
        ])

    @staticmethod
    def _check_modules(modules: Sequence[str]) -> Tuple[str, ...]:
        valid = tuple(MODULE_TYPES)
        if isinstance(modules, str):
            raise ValueError(f'SDFN.modules must be a sequence of module names, e.g. {list(valid)}, '
                             f'got the string {modules!r}')
        names = tuple(modules)
        if not names:
            raise ValueError(f'SDFN.modules is empty: give a non-empty subset of {list(valid)}')
        unknown = [m for m in names if m not in MODULE_TYPES]
        if unknown:
            raise ValueError(f'SDFN.modules has unknown name(s) {unknown}; valid names are {list(valid)}')
        if len(set(names)) != len(names):
            raise ValueError(f'SDFN.modules has duplicates: {list(names)}')
        return names

    def init_weights(self) -> None:
        """Re-zero the routers' last layers (uniform routing at start).

        mmengine calls a child's ``init_weights`` after the parent's
        ``init_cfg``, so a retriever-wide Linear initialiser cannot undo it.
        """
        for layer in self.routers:
            for router in layer.values():
                router.init_weights()

    def _check_inputs(self, img: ImageFeatures, txt: TextFeatures) -> None:
        if img.tokens.dim() != 3 or img.tokens.shape[-1] != self.image_dim:
            raise ValueError(f'SDFN expects image tokens (B, N, {self.image_dim}), got {tuple(img.tokens.shape)}')
        if txt.tokens.dim() != 3 or txt.tokens.shape[-1] != self.text_dim or txt.pooled.shape[-1] != self.text_dim:
            raise ValueError(f'SDFN expects word features (B, L, {self.text_dim}) and sentence (B, {self.text_dim}),'
                             f' got {tuple(txt.tokens.shape)} and {tuple(txt.pooled.shape)}')
        if txt.mask.shape != txt.tokens.shape[:2]:
            raise ValueError(f'TextFeatures.mask {tuple(txt.mask.shape)} does not match tokens '
                             f'{tuple(txt.tokens.shape[:2])}')

    def forward(self, img: ImageFeatures, txt: TextFeatures) -> FusionOutput:
        self._check_inputs(img, txt)
        names = self.module_names
        inputs: List[torch.Tensor] = [img.tokens] * len(names)
        dists: List[torch.Tensor] = []  # (B, rows, n) per layer
        logit_rows: Dict[str, List[torch.Tensor]] = {}
        query = fused = z = None
        for k in range(self.num_layers):
            layer, routers = self.layers[k], self.routers[k]
            outs = [layer[name](x, txt) for name, x in zip(names, inputs)]
            seen = inputs if self.router_input == 'input' else outs
            per_module = [routers[name](x, txt) for name, x in zip(names, seen)]
            last = k == self.num_layers - 1
            # (B, n_src, n_dst) for routing layers, (B, 1, n) for the read-out row
            logits = {key: (torch.stack([d[key] for d in per_module], dim=1) if not last
                            else torch.cat([d[key] for d in per_module], dim=1).unsqueeze(1))
                      for key in per_module[0]}
            probs = route_probs(logits, self.combine)
            dists.append(probs)
            for key, value in logits.items():
                logit_rows.setdefault(key, []).append(value)
            stacked = torch.stack(outs, dim=1)  # (B, n, N, C)
            if not last:
                mixed = torch.einsum('bmj,bmnc->bjnc', probs.to(stacked.dtype), stacked)
                if self.normalize_inputs:
                    mixed = mixed / (probs.sum(dim=1) + 1e-8).to(stacked.dtype)[:, :, None, None]
                inputs = list(mixed.unbind(dim=1))
            else:
                z = torch.stack([x.mean(dim=1) for x in inputs], dim=0).sum(dim=0)
                fused = torch.einsum('bm,bmnc->bnc', probs[:, 0].to(stacked.dtype), stacked)
                query = fused.mean(dim=1)
        aux = {'paths': torch.cat([p.flatten(1) for p in dists], dim=1),
               'last_inputs_pooled_sum': z}
        aux.update(self._logit_aux(logit_rows))
        return FusionOutput(query=query, aux=aux)

    def _logit_aux(self, rows: Dict[str, List[torch.Tensor]]) -> Dict[str, torch.Tensor]:
        full = {key: torch.cat(value, dim=1) for key, value in rows.items()}  # (B, n_dist, n)
        if self.router_type == 'msr':
            out = {'route_logits_img': full['img'], 'route_logits_txt': full['txt']}
            fused = fused_logits(full['img'], full['txt'], self.combine)
            if fused is not None:
                out['route_logits'] = fused
            return out
        if self.router_type == 'shared':
            return {'route_logits': full['shared']}
        return {}

    def extra_repr(self) -> str:
        return (f'modules={list(self.module_names)}, num_layers={self.num_layers}, router={self.router_type!r}, '
                f'combine={self.combine!r}, router_input={self.router_input!r}, num_paths={self.num_paths}')
