import mmengine.registry as root

from sdfn_plugin import registry


def test_every_mmengine_root_registry_has_a_child():
    roots = {name for name in dir(root) if isinstance(getattr(root, name), root.Registry)
             and getattr(root, name).parent is None and name.isupper()}
    for name in roots:
        child = getattr(registry, name)
        assert child.parent is getattr(root, name), name
        assert child.scope == 'sdfn_plugin'


def test_lazy_locations_register_on_first_build():
    assert registry.MODELS.get('TIRG').__name__ == 'TIRG'
    assert registry.METRICS.get('RecallAtK').__name__ == 'RecallAtK'
    assert registry.HOOKS.get('PrepareGalleryHook').__name__ == 'PrepareGalleryHook'
    assert registry.DATASETS.get('CSSDataset').__name__ == 'CSSDataset'
