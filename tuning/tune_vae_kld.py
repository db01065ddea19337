"""Sweep a VAE's KLD weight with KerasTuner: a table and a plot of the objective over the
weights, the best model and its samples.

    python tuning/tune_vae_kld.py                              # synthetic faces, budget by device
    python tuning/tune_vae_kld.py --objective val_neg_elbo     # held-out ELBO instead of FID
    python tuning/tune_vae_kld.py --kld-weight 0.1,0.5,1,10 --tuner grid   # seed 000's sweep
    python tuning/tune_vae_kld.py --data celeba ~/data/celeba --learning-rate 1e-4:3e-3

The objective must not simply reward the smallest KLD weight, which always reconstructs best
(seed 001: "the lowest MSE gave the worst samples"). The default, `fid`, compares faces decoded
from the prior N(0, I) with held-out real faces in an offline feature space: too small a weight
leaves the codes far from the prior and the decoded noise is not a face. `val_neg_elbo` (the
held-out negative ELBO, the full KL whatever the trial's weight) is the likelihood view; `kid`
and `val_mse` are recorded for every trial too. Run it again to resume an interrupted search
(Ctrl-C ends it with one line, exit status 130): the trials not yet finished run, each once.
"""

import os

import common

from kerasgen import tuning
from kerasgen.callbacks import SampleQuality

OBJECTIVES = ("fid", "kid", "val_neg_elbo", "val_mse")


def main():
    parser = common.parser(__doc__.split("\n\n")[0], out="runs/tune_vae_kld")
    parser.add_argument("--objective", default="fid", choices=OBJECTIVES)
    parser.add_argument("--kld-weight", default="1e-3:10",
                        help="LOW:HIGH (log range), V1,V2,... (choices) or one value")
    parser.add_argument("--learning-rate", default="1e-3", help="as --kld-weight")
    parser.add_argument("--latent-dim", type=int, default=128)
    args = parser.parse_args()
    common.setup(args)
    if common.held_out_split(args) is None and args.objective.startswith("val_"):
        parser.error(f"--objective {args.objective} needs a held-out split; --data "
                     f"{args.data[0]} has none: use fid or kid.")
    hypermodel = tuning.VAEHyperModel(
        kld_weight=tuning.parse_space(args.kld_weight, "--kld-weight"),
        learning_rate=tuning.parse_space(args.learning_rate, "--learning-rate"),
        image_size=args.image_size, latent_dim=args.latent_dim, seed=args.seed,
    )
    # Made before the data: it checks the search space and reloads a search to resume.
    tuner = common.make_tuner(args, hypermodel, args.objective, "vae_kld")
    train, held_out = common.datasets(args)
    extractor = common.extractor(args)
    real = common.real_features(args, extractor, held_out, train)

    quality = SampleQuality(real, extractor, ("fid", "kid"), n=args.quality_images, seed=args.seed)
    common.search(tuner, train, epochs=args.epochs, validation_data=held_out, callbacks=[quality],
                  verbose=2)
    if common.finish(tuner, args, swept=["kld_weight"]) is not None:
        rows = [r for r in tuning.results(tuner) if r["score"] is not None]
        tuning.plot_metrics(rows, "kld_weight", ["fid", "kid", "val_neg_elbo", "val_mse"],
                            os.path.join(args.out, "metrics.png"))
        print(f"kerasgen sweep: wrote {os.path.join(args.out, 'metrics.png')} (each metric "
              "against the KLD weight)")


if __name__ == "__main__":
    common.run(main)
