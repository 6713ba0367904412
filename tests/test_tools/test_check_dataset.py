"""tools/check_dataset.py on a placeholder copy of Shoes (a subset of the official annotation files) with
one planted fault of each kind, and browse_dataset.py on the same copy."""
import json
import os

import pytest
from PIL import Image

from sdfn_plugin.testing.placeholders import shoes_image_relpath, write_placeholder_images, write_truncated_jpeg
from sdfn_plugin.tools import browse_dataset, check_dataset

HERE = os.path.dirname(os.path.abspath(__file__))
SHOES = os.path.normpath(os.path.join(HERE, '..', '..', '..', 'shared', 'data', 'shoes'))
CONFIGS = os.path.normpath(os.path.join(HERE, '..', '..', 'configs'))
if os.environ.get('CI') != 'true':
    pytestmark = pytest.mark.skipif(not os.path.isfile(os.path.join(SHOES, 'relative_captions_shoes.json')),
                                    reason=f'official Shoes annotations not found at {SHOES}')


def _names(name):
    with open(os.path.join(SHOES, name)) as f:
        return [line.strip() for line in f if line.strip()]


@pytest.fixture(scope='module')
def shoes_copy(tmp_path_factory):
    """The first 30 filter-built train and eval triplets of the official files (eval list = their images),
    placeholder images, and the planted faults; returns (root, faults)."""
    root = tmp_path_factory.mktemp('shoes_check')
    with open(os.path.join(SHOES, 'relative_captions_shoes.json')) as f:
        anns = json.load(f)
    train, evals = set(_names('train_im_names.txt')), _names('eval_im_names.4621.txt')
    ev = set(evals)
    t_anns = [a for a in anns if a['ImageName'] in train and a['ReferenceImageName'] in train][:30]
    e_anns = [a for a in anns if a['ImageName'] in ev and a['ReferenceImageName'] in ev][:30]
    t_names = sorted({a[k] for a in t_anns for k in ('ImageName', 'ReferenceImageName')})
    e_names = [n for n in evals if n in {a[k] for a in e_anns for k in ('ImageName', 'ReferenceImageName')}]
    dup = dict(t_anns[3])
    with open(root / 'relative_captions_shoes.json', 'w') as f:
        json.dump(t_anns + e_anns + [dup], f)
    (root / 'train_im_names.txt').write_text('\n'.join(t_names) + '\n')
    (root / 'eval_im_names.txt').write_text('\n'.join(e_names) + '\n')
    (root / 'eval_im_names.4621.txt').write_text('\n'.join(e_names) + '\n')
    write_placeholder_images(str(root / shoes_image_relpath(n)) for n in t_names + e_names)
    path = {n: root / shoes_image_relpath(n) for n in t_names + e_names}
    faults = dict(missing=e_names[0], truncated=e_names[1], zero=e_names[2], html=t_names[0])
    os.remove(path[faults['missing']])
    write_truncated_jpeg(str(path[faults['truncated']]))
    path[faults['zero']].write_bytes(b'')
    path[faults['html']].write_text('<!DOCTYPE html><html><body>404 Not Found</body></html>')
    return root, dict(faults, dup=dup, n_train=len(t_names), n_eval=len(e_names))


def test_check_dataset_finds_every_planted_fault(shoes_copy, capsys):
    root, f = shoes_copy
    # pinned to filter pairs on the 4,621 list, whatever the config's default protocol
    loaders = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    pin = [f'{s}.dataset.pairs=filter' for s in loaders] + [f'{s}.dataset.eval_list=original_4621'
                                                             for s in loaders[1:]]
    rc = check_dataset.main([os.path.join(CONFIGS, 'tirg_shoes.py'), '--cfg-options', f'data_root={root}', *pin,
                             '--workers', '4'])
    out = capsys.readouterr().out
    assert rc == 1
    summary = out[out.index('\nsummary'):]
    # train: 30 entries + the repeated one; eval list = the 4th..30th eval triplets' images
    assert f'train (ShoesDataset): queries 31, gallery 0, images {f["n_train"]}' in summary
    assert f'val (ShoesDataset): queries 30, gallery {f["n_eval"]}, images {f["n_eval"]}' in summary
    assert ("duplicates: Shoes(train, pairs='filter'): 1 duplicated annotation entries in "
            f"'{root}/relative_captions_shoes.json'; the first is entry 60, a repeat of entry 3 "
            f"({(f['dup']['ReferenceImageName'], f['dup']['ImageName'], f['dup']['RelativeCaption'])!r})") in summary
    assert f"not an image: 1 file(s): '{root / shoes_image_relpath(f['html'])}'" in summary
    # Shoes finds images by basename: a missing one is reported under image_dir
    assert f"missing: 1 file(s): '{root / 'attributedata' / f['missing']}'" in summary
    assert f"zero-byte: 1 file(s): '{root / shoes_image_relpath(f['zero'])}'" in summary
    assert f"truncated/corrupt: 1 file(s): '{root / shoes_image_relpath(f['truncated'])}'" in summary
    assert summary.rstrip().endswith('2 of 2 dataset(s) with problems')


def test_verify_images_stops_the_build(shoes_copy):
    from sdfn_plugin.datasets import ShoesDataset
    root, f = shoes_copy
    with pytest.raises(FileNotFoundError, match=r'1 missing and 2 unreadable \(1 zero-byte, 1 truncated/corrupt\) '
                                                 r'of the \d+ image files'):
        ShoesDataset(str(root), split='eval', verify_images=True, duplicates='drop')


def test_browse_dataset_writes_a_grid(shoes_copy, tmp_path):
    root, _ = shoes_copy
    out = tmp_path / 'grid.png'
    # broken images are drawn as grey boxes naming the fault, not an error
    rc = browse_dataset.main([os.path.join(CONFIGS, 'tirg_shoes.py'), '--split', 'val', '--num', '3',
                              '--out', str(out), '--cfg-options', f'data_root={root}'])
    assert rc == 0
    with Image.open(out) as im:
        assert im.format == 'PNG' and im.size == (browse_dataset.grid_width(1), 3 * browse_dataset.ROW_HEIGHT)
