"""Sweep a GAN's learning rates with KerasTuner (and, for WGAN-GP, critic steps and the
gradient-penalty weight): a table and a plot of the objective, the best model and its samples.

    python tuning/tune_gan_lr.py                                 # DCGAN on synthetic faces
    python tuning/tune_gan_lr.py --model wgan-gp --n-critic 5 --gp-weight 1:100
    python tuning/tune_gan_lr.py --model cgan --objective kid --tuner hyperband
    python tuning/tune_gan_lr.py --data folder ~/data/lfw --features inception

The objective is a sample-quality score of generated against held-out real faces, measured by
`kerasgen.callbacks.SampleQuality` after every epoch (FID by default; KID, precision and recall
are recorded too): GAN losses say little about sample quality. Run it again to resume an
interrupted search (Ctrl-C ends it with one line, exit status 130): the trials not yet finished
run, each once.
"""

import common

from kerasgen import tuning
from kerasgen.callbacks import SampleQuality

MODELS = {
    "dcgan": (tuning.DCGANHyperModel, "discriminator"),
    "wgan-gp": (tuning.WGANGPHyperModel, "critic"),
    "cgan": (tuning.ConditionalGANHyperModel, "discriminator"),
}
CGAN_ATTRIBUTES = ["Male", "Smiling", "Eyeglasses", "Blond_Hair", "Bangs"]


def main():
    parser = common.parser(__doc__.split("\n\n")[0], out=None)
    parser.add_argument("--model", default="dcgan", choices=sorted(MODELS))
    parser.add_argument("--objective", default="fid", choices=("fid", "kid", "precision", "recall"))
    parser.add_argument("--generator-lr", default="2e-5:2e-3",
                        help="LOW:HIGH (log range), V1,V2,... (choices) or one value")
    parser.add_argument("--discriminator-lr", default="2e-5:2e-3",
                        help="the discriminator's (WGAN-GP: the critic's) learning rate")
    parser.add_argument("--n-critic", default="1:5", help="WGAN-GP: critic steps (integers)")
    parser.add_argument("--gp-weight", default="10", help="WGAN-GP: gradient-penalty weight")
    parser.add_argument("--attributes", default=",".join(CGAN_ATTRIBUTES),
                        help="cgan: the attributes it is conditioned on")
    args = parser.parse_args()
    args.out = args.out or f"runs/tune_{args.model.replace('-', '')}_lr"
    common.setup(args)
    build, critic = MODELS[args.model]
    spaces = {"generator_learning_rate": tuning.parse_space(args.generator_lr, "--generator-lr"),
              f"{critic}_learning_rate": tuning.parse_space(args.discriminator_lr,
                                                           "--discriminator-lr")}
    model_kwargs = dict(image_size=args.image_size, seed=args.seed)
    attributes = None
    if args.model == "wgan-gp":
        spaces.update(n_critic=tuning.parse_space(args.n_critic, "--n-critic"),
                      gp_weight=tuning.parse_space(args.gp_weight, "--gp-weight"))
    if args.model == "cgan":
        attributes = [a.strip() for a in args.attributes.split(",") if a.strip()]
        model_kwargs["attributes"] = attributes
    hypermodel = build(**spaces, **model_kwargs)
    # Made before the data: it checks the search space and reloads a search to resume.
    tuner = common.make_tuner(args, hypermodel, args.objective,
                              f"{args.model.replace('-', '')}_lr")
    train, held_out = common.datasets(args, attributes=attributes)
    extractor = common.extractor(args)
    real = common.real_features(args, extractor, held_out, train)

    quality = SampleQuality(real, extractor, ("fid", "kid", "pr"), n=args.quality_images,
                            seed=args.seed)
    common.search(tuner, train, epochs=args.epochs, callbacks=[quality], verbose=2)
    swept = [name for name, space in spaces.items() if isinstance(space, (tuple, list))]
    common.finish(tuner, args, swept=swept or list(spaces)[:1])


if __name__ == "__main__":
    common.run(main)
