"""Textbook PyTorch training loops for every kerasgen model: the same architectures written in
`torch.nn` (as the PyTorch DCGAN tutorial writes its networks), the same losses, optimizers and
number of updates per step, trained by a plain loop with `torch.optim`. `benchmarks/models.py`
times them against kerasgen's `fit` on the PyTorch backend.

The networks mirror `kerasgen.nets.conv`: strided 4x4 convolutions (`padding=1` is Keras'
"same" for these shapes) from the image down to 4x4, LeakyReLU(0.2), normalisation on all but the
first block; a Linear projection to 4x4 and strided 4x4 transposed convolutions back up.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F


def blocks(image_size):
    return int(math.log2(image_size)) - 2


def norm(kind, channels, size):
    if kind == "batch":
        return nn.BatchNorm2d(channels, momentum=0.1, eps=1e-5)
    if kind == "layer":  # over (channels, height, width) per sample, as WGAN-GP's critic
        return nn.LayerNorm([channels, size, size], eps=1e-5)
    return nn.Identity()


class Down(nn.Module):
    """Image (and optional condition maps) -> features: `kerasgen.nets.down_stack`."""

    def __init__(self, image_size, width, kind="batch", in_channels=3):
        super().__init__()
        layers, channels, size = [], width, image_size
        for i in range(blocks(image_size)):
            size //= 2
            layers += [nn.Conv2d(in_channels, channels, 4, 2, 1, bias=i == 0)]
            if i > 0:
                layers += [norm(kind, channels, size)]
            layers += [nn.LeakyReLU(0.2)]
            in_channels, channels = channels, channels * 2
        self.main = nn.Sequential(*layers)
        self.features = in_channels * 16

    def forward(self, x):
        return self.main(x).flatten(1)


class Up(nn.Module):
    """Latents -> image: `kerasgen.nets.up_stack` plus the output activation."""

    def __init__(self, latent_dim, image_size, width, act="relu", output="tanh"):
        super().__init__()
        n = blocks(image_size)
        self.top = width * 2 ** (n - 1)
        self.project = nn.Linear(latent_dim, 16 * self.top, bias=False)
        activation = (lambda: nn.ReLU()) if act == "relu" else (lambda: nn.LeakyReLU(0.2))
        layers, channels = [nn.BatchNorm2d(self.top), activation()], self.top
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(channels // 2), activation()]
            channels //= 2
        layers += [nn.ConvTranspose2d(channels, 3, 4, 2, 1),
                   nn.Tanh() if output == "tanh" else nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, z):
        return self.main(self.project(z).view(-1, self.top, 4, 4))


class Critic(nn.Module):
    """Image (and optional attributes as constant maps) -> one logit."""

    def __init__(self, image_size, width, kind="batch", condition_dim=0):
        super().__init__()
        self.down = Down(image_size, width, kind, 3 + condition_dim)
        self.logit = nn.Linear(self.down.features, 1)

    def forward(self, x, condition=None):
        if condition is not None:
            maps = condition[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
            x = torch.cat([x, maps], dim=1)
        return self.logit(self.down(x))


class Encoder(nn.Module):
    def __init__(self, image_size, latent_dim, width, outputs):
        super().__init__()
        self.down = Down(image_size, width)
        self.latent = nn.Linear(self.down.features, latent_dim * outputs)
        self.outputs = outputs

    def forward(self, x):
        out = self.latent(self.down(x))
        return out.chunk(2, dim=1) if self.outputs == 2 else out


# ---- SNGAN's ResNets, as mimicry writes them (torch_mimicry/modules/resblocks.py) ---------------


def _sn(module):
    return nn.utils.spectral_norm(module)


class GBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.b1, self.b2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
        self.c1, self.c2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.sc = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)
        h = self.c2(F.relu(self.b2(self.c1(up(F.relu(self.b1(x)))))))
        return h + self.sc(up(x))


class DBlock(nn.Module):
    def __init__(self, cin, cout, downsample, optimized=False):
        super().__init__()
        self.optimized, self.downsample = optimized, downsample
        self.c1 = _sn(nn.Conv2d(cin, cout if optimized else cin, 3, 1, 1))
        self.c2 = _sn(nn.Conv2d(cout if optimized else cin, cout, 3, 1, 1))
        self.sc = _sn(nn.Conv2d(cin, cout, 1)) if optimized or downsample or cin != cout else None

    def forward(self, x):
        if self.optimized:
            h = F.avg_pool2d(self.c2(F.relu(self.c1(x))), 2)
            return h + self.sc(F.avg_pool2d(x, 2))
        h = self.c2(F.relu(self.c1(F.relu(x))))
        shortcut = x if self.sc is None else self.sc(x)
        if self.downsample:
            h, shortcut = F.avg_pool2d(h, 2), F.avg_pool2d(shortcut, 2)
        return h + shortcut


class ResNetGenerator(nn.Module):
    def __init__(self, latent_dim, image_size, width):
        from kerasgen.nets.resnet import generator_channels  # the sizes, not the layers

        super().__init__()
        channels = generator_channels(image_size, width)
        self.top = channels[0]
        self.project = nn.Linear(latent_dim, 16 * self.top)
        self.blocks = nn.Sequential(*[GBlock(a, b) for a, b in zip(channels, channels[1:])])
        self.bn, self.out = nn.BatchNorm2d(channels[-1]), nn.Conv2d(channels[-1], 3, 3, 1, 1)

    def forward(self, z):
        h = self.blocks(self.project(z).view(-1, self.top, 4, 4))
        return torch.tanh(self.out(F.relu(self.bn(h))))


class ResNetDiscriminator(nn.Module):
    def __init__(self, image_size, width):
        from kerasgen.nets.resnet import discriminator_layout

        super().__init__()
        blocks, cin = [], 3
        for i, (cout, downsample) in enumerate(discriminator_layout(image_size, width)):
            blocks.append(DBlock(cin, cout, downsample, optimized=i == 0))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.logit = _sn(nn.Linear(cin, 1))

    def forward(self, x):
        return self.logit(F.relu(self.blocks(x)).sum(dim=(2, 3)))


# ---- DDPM's UNet, as `kerasgen.nets.unet` lays it out ------------------------------------------


def _group_norm(channels):
    return nn.GroupNorm(math.gcd(32, channels), channels, eps=1e-6)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, embedding, dropout):
        super().__init__()
        self.n1, self.c1 = _group_norm(cin), nn.Conv2d(cin, cout, 3, 1, 1)
        self.t = nn.Linear(embedding, cout)
        self.n2, self.c2 = _group_norm(cout), nn.Conv2d(cout, cout, 3, 1, 1)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.c1(F.silu(self.n1(x))) + self.t(emb)[:, :, None, None]
        return self.skip(x) + self.c2(self.drop(F.silu(self.n2(h))))


class Attention(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.norm, self.qkv = _group_norm(channels), nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)
        weights = torch.softmax(torch.einsum("bci,bcj->bij", q, k) / math.sqrt(c), dim=-1)
        return x + self.out(torch.einsum("bij,bcj->bci", weights, v).reshape(b, c, h, w))


class UNet(nn.Module):
    def __init__(self, model):
        from kerasgen.nets.unet import default_attention, default_multipliers

        super().__init__()
        size, w = model.image_size, model.width
        mults = model.multipliers or default_multipliers(size)
        attention = model.attention if model.attention is not None else default_attention(size)
        e, drop, blocks = 4 * w, model.dropout, model.blocks
        self.w = w
        self.time = nn.Sequential(nn.Linear(w, e), nn.SiLU(), nn.Linear(e, e), nn.SiLU())
        self.conv_in = nn.Conv2d(3, w, 3, 1, 1)
        self.down, chans, c, res = nn.ModuleList(), [w], w, size
        for level, m in enumerate(mults):
            for _ in range(blocks):
                self.down.append(nn.ModuleList([ResBlock(c, w * m, e, drop)] + (
                    [Attention(w * m)] if res in attention else [])))
                c = w * m
                chans.append(c)
            if level < len(mults) - 1:
                self.down.append(nn.Conv2d(c, c, 3, 2, 1))
                chans.append(c)
                res //= 2
        self.mid1, self.mid_attn = ResBlock(c, c, e, drop), Attention(c)
        self.mid2 = ResBlock(c, c, e, drop)
        self.up = nn.ModuleList()
        for level in reversed(range(len(mults))):
            for _ in range(blocks + 1):
                self.up.append(nn.ModuleList([ResBlock(c + chans.pop(), w * mults[level], e,
                                                       drop)] + (
                    [Attention(w * mults[level])] if res in attention else [])))
                c = w * mults[level]
            if level > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv2d(c, c, 3, 1, 1)))
                res *= 2
        self.out = nn.Sequential(_group_norm(c), nn.SiLU(), nn.Conv2d(c, 3, 3, 1, 1))

    def forward(self, x, t):
        half = self.w // 2
        frequencies = torch.pow(10000.0, -torch.arange(half, device=x.device) / max(1, half - 1))
        angles = t.float()[:, None] * frequencies[None]
        emb = self.time(torch.cat([angles.sin(), angles.cos()], dim=1))
        h = self.conv_in(x)
        skips = [h]
        for layer in self.down:
            if isinstance(layer, nn.ModuleList):
                h = layer[0](h, emb)
                for attention in layer[1:]:
                    h = attention(h)
            else:
                h = layer(h)
            skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for layer in self.up:
            if isinstance(layer, nn.ModuleList):
                h = layer[0](torch.cat([h, skips.pop()], dim=1), emb)
                for attention in layer[1:]:
                    h = attention(h)
            else:
                h = layer(h)
        return self.out(h)


def _init(module):
    for m in module.modules():  # DCGAN's N(0, 0.02)
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


def adam(module, lr, betas):
    return torch.optim.Adam(module.parameters(), lr=lr, betas=betas)


def bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def sum_mse(a, b):
    return (a - b).square().sum(dim=(1, 2, 3)).mean()


def kl(mean, log_var):
    return (0.5 * (mean.square() + log_var.exp() - 1 - log_var)).sum(dim=1).mean()


def make_step(name, model, batch_size, device):
    """A train step `step(uint8 NHWC tensor) -> losses` for kerasgen `model`'s configuration."""
    size, w, z_dim = model.image_size, model.width, model.latent_dim

    def noise():
        return torch.randn(batch_size, z_dim, device=device)

    def pixels(images, low):  # uint8 NHWC -> float NCHW in [low, 1]
        x = images.permute(0, 3, 1, 2).float() / 255.0
        return x * 2 - 1 if low < 0 else x

    if name in ("dcgan", "wgan-gp"):
        g = _init(Up(z_dim, size, w)).to(device)
        wgan = name == "wgan-gp"
        d = _init(Critic(size, w, "layer" if wgan else "batch")).to(device)
        betas = (0.0, 0.9) if wgan else (0.5, 0.999)
        lr = 1e-4 if wgan else 2e-4
        g_opt, d_opt = adam(g, lr, betas), adam(d, lr, betas)

        def step(images):
            real = pixels(images, -1)
            for _ in range(model.n_critic if wgan else 1):
                d_opt.zero_grad(set_to_none=True)
                fake = g(noise()).detach()
                if wgan:
                    alpha = torch.rand(batch_size, 1, 1, 1, device=device)
                    mixed = (real + alpha * (fake - real)).requires_grad_(True)
                    (grads,) = torch.autograd.grad(d(mixed).sum(), mixed, create_graph=True)
                    gp = ((grads.square().sum(dim=(1, 2, 3)) + 1e-12).sqrt() - 1).square().mean()
                    d_loss = d(fake).mean() - d(real).mean() + model.gp_weight * gp
                else:
                    d_loss = bce(d(real), 1.0) + bce(d(fake), 0.0)
                d_loss.backward()
                d_opt.step()
            g_opt.zero_grad(set_to_none=True)
            scores = d(g(noise()))
            g_loss = -scores.mean() if wgan else bce(scores, 1.0)
            g_loss.backward()
            g_opt.step()
            return d_loss, g_loss

        return step

    if name in ("ae", "vae"):
        variational = name == "vae"
        enc = _init(Encoder(size, z_dim, w, 2 if variational else 1)).to(device)
        dec = _init(Up(z_dim, size, w, act="leaky_relu", output="sigmoid")).to(device)
        opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=1e-3)

        def step(images):
            x = pixels(images, 0)
            opt.zero_grad(set_to_none=True)
            if variational:
                mean, log_var = enc(x)
                z = mean + (0.5 * log_var).exp() * torch.randn_like(mean)
            else:
                z = enc(x)
            loss = sum_mse(dec(z), x)
            if variational:
                loss = loss + model.kld_weight * kl(mean, log_var)
            loss.backward()
            opt.step()
            return (loss,)

        return step

    if name == "vaegan":
        enc = _init(Encoder(size, z_dim, w, 2)).to(device)
        dec = _init(Up(z_dim, size, w, act="leaky_relu", output="sigmoid")).to(device)
        d = _init(Critic(size, w)).to(device)
        e_opt, dec_opt, d_opt = (adam(m, 2e-4, (0.5, 0.999)) for m in (enc, dec, d))

        def vae_pass(x):
            mean, log_var = enc(x)
            recon = dec(mean + (0.5 * log_var).exp() * torch.randn_like(mean))
            return recon, sum_mse(recon, x), kl(mean, log_var)

        def step(images):  # Larsen et al.'s three losses, one network at a time, as kerasgen
            x = pixels(images, 0)
            d_opt.zero_grad(set_to_none=True)
            recon, _, _ = vae_pass(x)
            d_loss = (bce(d(x), 1.0) + bce(d(recon.detach()), 0.0)
                      + bce(d(dec(noise()).detach()), 0.0))
            d_loss.backward()
            d_opt.step()
            e_opt.zero_grad(set_to_none=True)
            _, error, divergence = vae_pass(x)
            e_loss = model.kld_weight * divergence + error
            e_loss.backward()
            e_opt.step()
            dec_opt.zero_grad(set_to_none=True)
            recon, error, _ = vae_pass(x)
            dec_loss = (model.reconstruction_weight * error
                        + model.gan_weight * (bce(d(recon), 1.0) + bce(d(dec(noise())), 1.0)))
            dec_loss.backward()
            dec_opt.step()
            return d_loss, e_loss, dec_loss

        return step

    if name == "cgan":
        k = model.num_attributes
        g = _init(Up(z_dim + k, size, w)).to(device)
        d = _init(Critic(size, w, condition_dim=k)).to(device)
        enc = _init(Encoder(size, z_dim, w, 1)).to(device)
        g_opt, d_opt, e_opt = (adam(m, 2e-4, (0.5, 0.999)) for m in (g, d, enc))

        def generate(z, signs):
            return g(torch.cat([z, signs], dim=1))

        def step(batch):
            images, labels = batch
            real, signs = pixels(images, -1), labels.float() * 2 - 1
            d_opt.zero_grad(set_to_none=True)
            fake = generate(noise(), signs).detach()
            flip = F.one_hot(torch.randint(0, k, (batch_size,), device=device), k)
            wrong = signs * (1 - 2 * flip)  # one attribute flipped per sample
            d_loss = (bce(d(real, signs), 1.0) + bce(d(fake, signs), 0.0)
                      + model.mismatch_weight * bce(d(real, wrong), 0.0))
            d_loss.backward()
            d_opt.step()
            g_opt.zero_grad(set_to_none=True)
            g_loss = bce(d(generate(noise(), signs), signs), 1.0)
            redrawn = generate(enc(real).detach(), signs)
            g_loss = g_loss + model.reconstruction_weight * ((redrawn - real) / 2).square().mean()
            g_loss.backward()
            g_opt.step()
            e_opt.zero_grad(set_to_none=True)
            g.eval()  # kerasgen's encoder phase runs the generator in inference mode
            e_loss = ((generate(enc(real), signs) - real) / 2).square().mean()
            g.train()
            e_loss.backward()
            e_opt.step()
            return d_loss, g_loss, e_loss

        return step

    if name == "sngan":
        g = ResNetGenerator(z_dim, size, w).to(device)
        d = ResNetDiscriminator(size, w).to(device)
        g_opt, d_opt = adam(g, 2e-4, (0.0, 0.9)), adam(d, 2e-4, (0.0, 0.9))

        def step(images):
            real = pixels(images, -1)
            for _ in range(model.n_dis):
                d_opt.zero_grad(set_to_none=True)
                fake = g(noise()).detach()
                d_loss = F.relu(1.0 - d(real)).mean() + F.relu(1.0 + d(fake)).mean()
                d_loss.backward()
                d_opt.step()
            g_opt.zero_grad(set_to_none=True)
            g_loss = -d(g(noise())).mean()
            g_loss.backward()
            g_opt.step()
            return d_loss, g_loss

        return step

    if name == "diffusion":
        unet = UNet(model).to(device)
        opt = torch.optim.Adam(unet.parameters(), lr=2e-4)
        alpha_bar = torch.tensor(model.alpha_bar, dtype=torch.float32, device=device)

        def step(images):
            x0 = pixels(images, -1)
            t = torch.randint(0, model.timesteps, (batch_size,), device=device)
            noise = torch.randn_like(x0)
            a = alpha_bar[t].view(-1, 1, 1, 1)
            opt.zero_grad(set_to_none=True)
            loss = (noise - unet(a.sqrt() * x0 + (1 - a).sqrt() * noise, t)).square().mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            opt.step()
            return (loss,)

        return step

    raise ValueError(f"no PyTorch textbook loop for {name!r}")
