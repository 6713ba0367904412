"""Docs are self-contained: every cited file exists in the repository, and the README's configs load as written."""
import glob
import os.path as osp
import re
import subprocess

import pytest

from cir_testlib import REPO
from sdfn_plugin.cli.config_check import check_config
from sdfn_plugin.cli.config_file import load_config_file

TEXT_EXT = ('.py', '.md', '.yml', '.yaml', '.toml', '.txt', '.in', '.sh', '.cfg')
# a path-like token naming a document: docs/sdfn.md, zoo.md#amc, parent-relative paths (not hashlib.md5, line.rstrip)
DOC_REF = re.compile(r'(?<![\w/.-])((?:\.{1,2}/)*[\w-]+(?:/[\w.-]+)*\.(?:md|rst))(?![\w])')
MD_LINK = re.compile(r'\]\(([^)#\s]+)(?:#[^)]*)?\)')


def _tracked_text_files():
    try:
        out = subprocess.run(['git', 'ls-files'], cwd=REPO, capture_output=True, text=True, check=True).stdout
        files = [osp.join(REPO, p) for p in out.splitlines()]
    except (OSError, subprocess.CalledProcessError):  # a source tree without git
        files = glob.glob(osp.join(REPO, '**', '*'), recursive=True)
    return [p for p in files if p.endswith(TEXT_EXT) and osp.isfile(p) and not osp.islink(p)]


def _exists(ref, src):
    """Relative to the citing file, to the repository root, or (a bare name) anywhere in the repository."""
    here = osp.dirname(src)
    if osp.exists(osp.normpath(osp.join(here, ref))) or osp.exists(osp.join(REPO, ref)):
        return True
    if '/' not in ref:
        return bool(glob.glob(osp.join(REPO, '**', ref), recursive=True))
    # a path inside the package cited from the repository root, or 'configs/...' via the root symlink
    return osp.exists(osp.join(REPO, 'sdfn_plugin', ref))


# documents that are not repository files: outputs the tools write, files of other projects
NOT_FILES = re.compile(r'(?:^|/)results\.md$|^(?:dataset|datasets)/readme\.md$')


def _is_outside_reference(ref, src):
    return not osp.normpath(osp.join(osp.dirname(src), ref)).startswith(REPO + osp.sep) or 'shared/' in ref


def test_no_reference_to_a_file_outside_the_repository_or_missing():
    missing = []
    for path in _tracked_text_files():
        rel = osp.relpath(path, REPO)
        text = open(path, encoding='utf-8', errors='replace').read()
        refs = set(DOC_REF.findall(text))
        if path.endswith('.md'):
            refs |= {r for r in MD_LINK.findall(text) if not r.startswith(('http://', 'https://', 'mailto:'))}
        for ref in sorted(refs):
            if rel.startswith('tests/') and '/' not in ref:
                continue  # files a test writes into its temporary folder
            if _is_outside_reference(ref, path) or (not NOT_FILES.search(ref) and not _exists(ref, path)):
                missing.append(f'{rel}: {ref}')
    assert not missing, 'references to files that are not in the repository:\n' + '\n'.join(missing)


def _readme_configs():
    blocks = []
    for doc in ['README.md', *sorted(glob.glob(osp.join(REPO, 'docs', '*.md')))]:
        text = open(osp.join(REPO, doc), encoding='utf-8').read()
        for i, block in enumerate(re.findall(r'```python\n(.*?)```', text, re.S)):
            if re.search(r'^_base_\s*=', block, re.M):
                blocks.append(pytest.param(block, id=f'{osp.basename(doc)}-{i}'))
    return blocks


def test_the_readme_has_config_examples():
    assert len([b for b in _readme_configs() if b.id.startswith('README.md')]) >= 3


@pytest.mark.parametrize('block', _readme_configs())
def test_documented_config_loads_as_written_from_any_directory(block, tmp_path):
    path = tmp_path / 'example.py'
    path.write_text(block)
    cfg = load_config_file(str(path))
    check_config(cfg, str(path))
    assert cfg.model.type and cfg.train_dataloader.dataset.type
