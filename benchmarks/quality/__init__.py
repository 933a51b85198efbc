"""Quality benchmark: the zoo's models against their anchors, same data, same epochs.

Every task trains the zoo's model and its anchor **in the same run**, on the
4,000 embedded training digits, for the same epochs (the anchors at batch
128, the zoo's models at their recipe's: 128, the VAE 64; the ablation shows
32 and 128), and scores both on the same held-out digits: the 1,000 embedded
validation digits, and the official MNIST test set when `--mnist-dir`
(default: `$KERAS_AE_MNIST_DIR`) holds it. The anchors are the keras.io
examples, re-implemented from their published architectures
(`benchmarks.anchors`, `benchmarks.reference_vae`), PCA and logistic
regression. The zoo's models are the package's named recipes
(`keras_ae.recipes`, one per task in `context.ZOO`): what the benchmark
trains is what `python -m keras_ae train --recipe NAME` trains, for the
benchmark's epochs.

Each task runs once per seed of `--seeds` (default: `--seed` and the next
two), training both models anew; the data split, the held-out corruptions
and the judges stay those of `--seed`. A row gives the mean over the seeds
and their range, and its target is met only when every seed meets it.

Tasks (`--tasks`, default all; one module each):

    denoising    (restoration) conv AE with a 7x7 feature-map code, trained
                 on fresh noise each batch, vs the keras.io denoising
                 autoencoder; PSNR/SSIM at sigma 0.5 (clipped).
    occlusion    (restoration) the same conv AE trained on one random 10x10
                 square set to 0, vs the keras.io denoiser's architecture
                 trained the same way, the occluded input and a mean-image
                 fill; PSNR of the raw output and of the inpainted image
                 (observed pixels kept).
    classifier   (representation) the encoder of a conv AE pretrained on all
                 training digits (unlabelled), fine-tuned with a head on its
                 features (`fine_tune_classifier`), vs the keras.io "simple
                 MNIST convnet" from scratch (also with the same
                 augmentation) and logistic regression on pixels; 10 and 100
                 labels per class and all.
    compression  (representation) the lstm and transformer AEs (latent 16)
                 vs PCA with 16 components: reconstruction MSE and
                 linear-probe accuracy.
    vae          (generation) the conv VAE (latent 16) with the zoo's
                 training recipe vs the keras.io VAE with latent 16: negative
                 ELBO, IW-NLL, and generation judged by a reference digit
                 classifier (digit FID, class shares among 1,000 samples).
    main_job     (generation) `python -m keras_ae train` with its defaults,
                 timed as a whole command: how often the reference
                 classifier recognises the validation digits in their
                 reconstructions, and the classes its prior samples cover.
    conditional  (generation) the conv CVAE (the VAE's recipe, with labels)
                 vs the zoo's VAE with classifier rejection: the asked class
                 recognised in 100 samples per class, digit FID per class,
                 reconstruction agreement.
    discrete     (generation) the conv VQ-VAE (7x7x16, 64 codes) and its
                 PixelCNN prior vs the keras.io VQ-VAE and its PixelCNN:
                 PSNR, share of the codebook in use, digit FID and classes
                 of prior samples beside the zoo's VAE.

`--ablation` adds the recipe's ablation (seed `--seed` only): the conv VAE
trained without each of its callbacks and at other batch sizes, and the
denoiser with and without the cosine decay. `--small` is a smoke run of
every task (one epoch, 500 training digits, 100 held out, one seed, the
main job without export; the figures mean nothing) that the tests run.

A run of three seeds takes about three hours on two CPU cores: the seeds
can run apart (`--seeds 1`, one output directory each) and `--merge`
combines their `quality.json` files into the report one run of every seed
would have written (each part's command, machine and wall time kept; its
time ratios compare within it).

Results go to `<output-dir>/quality.json` and `quality.md` (machine,
command, wall time of every model); figures to
`<output-dir>/quality_figures/`. Existing results are never overwritten
(pass --overwrite).

Usage:

    python -m benchmarks.quality --mnist-dir DIR --ablation
    python -m benchmarks.quality --small --output-dir runs/quality-small
    python -m benchmarks.quality --small --seeds 0 1 --tasks occlusion \
        --output-dir runs/quality-seeds
    python -m benchmarks.quality --mnist-dir DIR --seeds 1 --output-dir runs/seed1
    python -m benchmarks.quality --merge runs/seed*/quality.json \
        --output-dir benchmarks/results --overwrite
"""
