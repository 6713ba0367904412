"""SDFN (arXiv 2405.15451): operation modules, routers and the dynamic fusion network."""
from .modules import CAM, GTM, JRM, MODULE_TYPES, RCM, SDFNModule
from .network import SDFN
from .routers import (ImageRouter, ModalitySpecificRouter, SharedRouter, TextRouter, UniformRouter, combine_probs,
                      route_probs)

__all__ = ['SDFN', 'SDFNModule', 'JRM', 'CAM', 'GTM', 'RCM', 'MODULE_TYPES', 'ImageRouter', 'TextRouter',
           'SharedRouter', 'ModalitySpecificRouter', 'UniformRouter', 'combine_probs', 'route_probs']
