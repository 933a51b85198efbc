"""Build hooks of the documentation: the notebooks join the site from `notebooks/`.

The notebooks live beside the package (the tests execute them there); the
site renders them, with the outputs they were saved with, under
`notebooks/`.
"""

import glob
import os

from mkdocs.structure.files import File

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def on_files(files, config):
    for path in sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb"))):
        files.append(File(os.path.join("notebooks", os.path.basename(path)),
                          src_dir=ROOT, dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files
