"""What each Config field means to a person: its label on the Train form and a help text (what
it does, the paper's value where the paper has one). The form shows BASIC first and the other
groups collapsed; a test checks that every Config field is here exactly once, with help.

Sources: Chen et al. 2016 (InfoGAN), appendix C, for the paper's values; Lin et al. 2020
(InfoGAN-CR) for the contrastive regulariser and the dSprites recipe."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    label: str
    help: str


FIELDS: dict[str, Field] = {
    "dataset": Field("Dataset", "Which images to learn. The preset above sets every other field to that dataset's "
                                "published recipe."),
    "seed": Field("Seed", "Seeds the weights, the latent draws and the data order: the same seed and settings give "
                          "the same run. Different seeds of one setting show how much a result depends on luck."),
    "epochs": Field("Epochs", "Passes over the training images. Paper: MNIST converges within a few epochs; the "
                              "MNIST preset trains 10 (a seed sweep in docs/results.md), the others 20."),
    "max_steps": Field("Stop after this many steps", "A cap on training steps, whatever the epochs (0 = no cap). "
                                                     "Handy for a quick look."),
    "data_dir": Field("Data folder", "Where the dataset's files are (torchvision layout). Empty: the sidebar's data "
                                     "folder, else $INFOGAN_DATA, else ./data."),
    "download": Field("Download if missing", "Fetch MNIST, Fashion-MNIST or SVHN with torchvision when the files "
                                             "are absent (needs internet)."),
    "subset": Field("Training images (0 = all)", "Train on a fixed random sample of this many images: faster "
                                                 "epochs for a first try."),
    "image_size": Field("Image size", "Side of the square images in pixels; picks the network row (28, 32 or 64)."),
    "channels": Field("Colour channels", "1 for grey images, 3 for colour."),
    "arch": Field("Architecture", "paper: the InfoGAN paper's convolutional nets (appendix C); infogan-cr: the "
                                  "smaller 64x64 nets of InfoGAN-CR's dSprites code."),
    "d_batchnorm": Field("BatchNorm in D", "Batch normalisation in D's trunk and Q's head, as in the paper; "
                                           "InfoGAN-CR turns it off and uses spectral normalisation."),
    "spectral_norm": Field("Spectral normalisation", "Constrains each layer of D (and Q) to Lipschitz 1, which "
                                                      "steadies training (Miyato et al. 2018); InfoGAN-CR's recipe."),
    "output": Field("Output of G", "tanh: images in [-1, 1] (the paper); sigmoid: in [0, 1] (InfoGAN-CR)."),
    "noise_dim": Field("Noise dimensions (z)", "Size of the unstructured noise z. Paper: 62 on MNIST, 128 on CelebA."),
    "noise_prior": Field("Noise distribution", "normal: z ~ N(0, I) (the paper); uniform: U(-1, 1) (InfoGAN-CR)."),
    "cat_codes": Field("Categorical codes", "One number per categorical code: how many values it takes. Paper on "
                                            "MNIST: one code of 10 values, which learns the digit class."),
    "n_cont": Field("Continuous codes", "How many codes uniform on [-1, 1]. Paper on MNIST: 2 (rotation, width); "
                                        "the MNIST preset uses 3 so stroke thickness can get its own."),
    "circular_codes": Field("Circular codes", "How many of the continuous codes (the first ones) are angles: "
                                              "G reads (cos πc, sin πc), so c = -1 and c = 1 draw the same image and "
                                              "values past ±1 wrap around. For a factor that is a circle, like a hue."),
    "fixed_sigma": Field("Fix Q's σ to 1", "Q predicts only a mean for each continuous code (its NLL becomes a squared "
                                          "error) instead of a mean and a variance. The paper learns σ."),
    "lambda_cat": Field("Weight of the categorical information term", "λ for the categorical codes in "
                                                                      "L_GAN - λ L_I. Paper: 1. 0 turns the term off."),
    "lambda_cont": Field("Weight of the continuous information term", "λ for the continuous codes. Paper: 0.1 on MNIST "
                                                                      "(a Gaussian NLL has a larger range than a "
                                                                      "cross-entropy). 0 turns the term off."),
    "lambda_cat_jitter": Field("Weight of the jittered categorical term", "Also asks Q to read the categorical code "
                                                                          "from a slightly shifted and rotated fake, "
                                                                          "so the code keeps to identity, not pose. "
                                                                          "Not in the paper; on for MNIST only."),
    "lambda_cr": Field("Weight of the contrastive regulariser", "InfoGAN-CR: a head H guesses which code two "
                                                                 "images share; G helps it. 0 = off. InfoGAN-CR on "
                                                                 "dSprites: 2."),
    "cr_start": Field("Contrastive regulariser from step", "The step at which H and its term switch on (InfoGAN-CR: "
                                                           "after 25 of 28 epochs on dSprites)."),
    "cr_gap": Field("Contrastive pairs' least gap", "How far apart a pair's unshared continuous codes are drawn, at "
                                                    "least (from 0 up to, not including, 2): near 2 they swing "
                                                    "across their range, so H sees each code's effect in full. "
                                                    "InfoGAN-CR: 1.9 on 3D teapots, 0 on dSprites."),
    "lambda_hessian": Field("Weight of the Hessian penalty", "Peebles et al. 2020: G pays when two of its "
                                                            "continuous inputs (noise or codes) interact in a "
                                                            "pixel, so each factor comes from one input. 0 = off. "
                                                            "Five fp32 passes of G on 16 samples per step."),
    "lr_d": Field("Learning rate of D (and Q)", "Adam's step size for D's trunk, D's head and Q's head. Paper: 2e-4."),
    "lr_g": Field("Learning rate of G", "Adam's step size for G. Paper: 1e-3."),
    "beta1": Field("Adam β1", "Momentum of Adam's first moment. 0.5 is usual for GANs (DCGAN)."),
    "beta2": Field("Adam β2", "Decay of Adam's second moment. Default 0.999."),
    "g_steps": Field("G updates per step", "G steps after each D/Q step. InfoGAN-CR trains G twice; the paper once."),
    "shared_latents": Field("One draw of latents per step", "Feed the same z, c and contrastive pairs to every "
                                                            "update of a step, as InfoGAN-CR's code does (and let "
                                                            "H's step and the first G step share G's pass); off: "
                                                            "fresh draws for each update."),
    "batch_size": Field("Batch size", "Images per step. Paper: 128 (InfoGAN-CR: 64)."),
    "device": Field("Device", "Where to train: auto picks a CUDA GPU when there is one, else the CPU."),
    "precision": Field("Precision", "auto times fp32 and bf16 on the first batches and keeps the faster one whose "
                                    "losses agree with fp32's; bf16 is faster on some CPUs and most GPUs."),
    "log_every": Field("Log every (steps)", "Losses, MI bounds and code use are averaged and written every N steps."),
    "sample_every": Field("Samples every (steps)", "The fixed-noise sample grid (Monitor's latest samples) every N "
                                                   "steps. 0 = auto: a 25th of the run (10 to 2,000 steps)."),
    "film_every": Field("Film frame every (steps)", "A frame of the film of training (every code's traversal from "
                                                    "fixed noise) every N steps, and at each checkpoint. 0 = auto: a "
                                                    "10th of the run (10 to 4,000 steps)."),
    "ckpt_every": Field("Checkpoint every (steps)", "A checkpoint (what Explore, evaluation and resume read) every N "
                                                    "steps. 0 = auto: a 5th of the run (10 to 4,000 steps)."),
    "keep_checkpoints": Field("Checkpoints kept", "Older checkpoints are deleted beyond this many (their film "
                                                  "frames stay)."),
    "disent_every": Field("Disentanglement every (steps)", "On data with ground-truth factors: FactorVAE and MIG "
                                                           "measured while training every N steps (0 = off)."),
}

# what a newcomer sets; the rest waits in collapsed groups
BASIC = ("seed", "epochs", "max_steps")
GROUPS: dict[str, tuple[str, ...]] = {
    "Data": ("dataset", "data_dir", "download", "subset", "image_size", "channels"),
    "Latent codes": ("cat_codes", "n_cont", "circular_codes", "noise_dim", "noise_prior", "fixed_sigma"),
    "Objective: the information term and its weights": ("lambda_cat", "lambda_cont", "lambda_cat_jitter",
                                                         "lambda_cr", "cr_start", "cr_gap", "lambda_hessian"),
    "Networks": ("arch", "d_batchnorm", "spectral_norm", "output"),
    "Optimisation": ("lr_d", "lr_g", "beta1", "beta2", "g_steps", "shared_latents", "batch_size", "device",
                     "precision"),
    "Logging, samples and checkpoints": ("log_every", "sample_every", "film_every", "ckpt_every", "keep_checkpoints",
                                         "disent_every"),
}
