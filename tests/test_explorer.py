"""`kerasgen explore`: the latent directions (hand-checked on a linear generator), the face
state a page round-trips, the HTTP API and its bad-input answers, the server's guards (Host
check, idle timeout, quiet disconnects, a bounded queue) and the page in a real headless
Chromium (tests/test_explorer_browser.py)."""

import contextlib
import http.client
import json
import socket
import struct
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

import kerasgen
from kerasgen.data import synthetic_faces
from kerasgen.errors import AttributeNameError, DataError
from kerasgen.explorer import SLIDER_RANGE, Explorer, ExplorerServer, jacobian_directions
from kerasgen.explorer import start_in_thread
from kerasgen.latent import latent_pca

ATTRIBUTES = ["Male", "Smiling", "Eyeglasses"]


def test_jacobian_directions_of_a_linear_generator_are_its_singular_vectors():
    # G(z) = z A: J^T J = A A^T, so the directions are A's left singular vectors and the
    # eigenvalues its squared singular values, by hand (numpy SVD).
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 40)) * np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.1])[:, None]
    directions, eigenvalues, shares = jacobian_directions(lambda z: z @ a, 6, n_components=3,
                                                          samples=2)
    u, singular, _ = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(eigenvalues, singular[:3] ** 2, rtol=1e-4)
    # Shares of the whole: the top 3 of 6 squared singular values over the sum of all 6.
    np.testing.assert_allclose(shares, singular[:3] ** 2 / np.sum(singular**2), rtol=1e-4)
    np.testing.assert_allclose(np.abs(directions @ u[:, :3]), np.eye(3), atol=1e-4)
    assert np.all(directions[np.arange(3), np.argmax(np.abs(directions), axis=1)] > 0)


@pytest.fixture(scope="module")
def vae():
    return kerasgen.VAE(latent_dim=12, image_size=16, seed=0)


@pytest.fixture(scope="module")
def cgan():
    return kerasgen.ConditionalGAN(attributes=ATTRIBUTES, latent_dim=12, image_size=16, seed=0)


def _faces(n=128):
    return synthetic_faces(n=n, image_size=16, batch_size=64)


@pytest.mark.backend
def test_vae_sliders_are_principal_components_and_round_trip(vae):
    explorer = Explorer(vae, data=_faces(), n_components=4, max_images=128)
    pca = latent_pca(vae, _faces(), 4, 128)
    np.testing.assert_allclose(explorer.directions, pca.components, atol=1e-6)
    np.testing.assert_allclose(explorer.directions @ explorer.directions.T, np.eye(4), atol=1e-5)
    assert "principal components" in explorer.info()["method"]
    z0 = explorer.base_latent(5)
    own = explorer.coords(z0)
    # The seed's own coordinates give back its latent; its face is `generate(seed=5)`.
    np.testing.assert_allclose(explorer.latent(5, own), z0, atol=1e-5)
    np.testing.assert_allclose(explorer.image(5), vae.generate(1, seed=5)[0], atol=1e-6)
    # Moving slider 2 by 1.5 (towards zero, so it stays on the slider wherever the seed's own
    # value lies in [-3, 3]) moves the latent by 1.5 along component 2 only.
    step = -1.5 if own[2] > 0 else 1.5
    moved = own.copy()
    moved[2] += step
    np.testing.assert_allclose(explorer.latent(5, moved) - z0, step * explorer.directions[2],
                               atol=1e-5)
    np.testing.assert_allclose(explorer.coords(explorer.latent(5, moved)), moved, atol=1e-5)
    assert np.abs(explorer.image(5, moved) - explorer.image(5, own)).max() > 1e-4


@pytest.mark.backend
def test_conditional_gan_toggles_regenerate_and_refine(cgan):
    explorer = Explorer(cgan, n_components=3)
    assert "Jacobian" in explorer.info()["method"]
    assert explorer.info()["attributes"] == ATTRIBUTES
    assert explorer.info()["modes"] == ["regenerate", "refine"]
    state = explorer.state(7)
    own = cgan.attribute_matrix(None, n=1, seed=7)[0]
    assert state["attributes"] == {n: int(v) for n, v in zip(ATTRIBUTES, own)}
    np.testing.assert_allclose(explorer.image(7), cgan.generate(1, seed=7)[0], atol=1e-6)
    flipped = {"Smiling": 1 - state["attributes"]["Smiling"]}
    wanted = cgan.attribute_vector(flipped, base=own)
    regenerated = explorer.image(7, attributes=flipped)
    np.testing.assert_allclose(
        regenerated, cgan.generate(latents=explorer.base_latent(7)[None], attributes=wanted[None])[0],
        atol=1e-6)
    refined = explorer.image(7, attributes=flipped, mode="refine")
    np.testing.assert_allclose(refined, cgan.refine(cgan.generate(1, seed=7), wanted[None])[0],
                               atol=1e-5)
    with pytest.raises(AttributeNameError, match="unknown attribute 'Beard'"):
        explorer.image(7, attributes={"Beard": 1})
    with pytest.raises(DataError, match="mode must be one of"):
        explorer.image(7, mode="morph")


def test_out_of_range_values_are_refused_clearly(vae):
    explorer = Explorer(vae, n_components=3)  # no data: Jacobian directions for a VAE too
    assert "Jacobian" in explorer.method
    with pytest.raises(DataError, match=r"finite numbers in \[-3, 3\]"):
        explorer.image(0, [0.0, SLIDER_RANGE + 0.5, 0.0])
    with pytest.raises(DataError, match="finite"):
        explorer.image(0, [0.0, float("nan"), 0.0])
    with pytest.raises(DataError, match="expected 3 slider values; received 2"):
        explorer.image(0, [0.0, 0.0])
    with pytest.raises(DataError, match="seed must be an integer"):
        explorer.image(-4)
    with pytest.raises(DataError, match="not conditioned on attributes"):
        explorer.image(0, attributes={"Male": 1})


# ---- the HTTP API ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(cgan):
    server = ExplorerServer(Explorer(cgan, n_components=3), port=0)
    start_in_thread(server)
    yield server
    server.shutdown()
    server.server_close()


def _get(server, path):
    with urllib.request.urlopen(server.url + path, timeout=30) as response:
        return response.status, response.headers["Content-Type"], response.read()


def _error(server, path):
    with pytest.raises(urllib.error.HTTPError) as caught:
        _get(server, path)
    return caught.value.code, json.loads(caught.value.read())["error"]


def test_server_serves_the_page_info_state_and_png(server):
    from PIL import Image
    import io

    status, kind, page = _get(server, "")
    assert status == 200 and kind.startswith("text/html") and b"kerasgen explorer" in page
    info = json.loads(_get(server, "api/info")[2])
    assert info["model"] == "ConditionalGAN" and len(info["components"]) == 3
    state = json.loads(_get(server, "api/state?seed=3")[2])
    assert set(state["attributes"]) == set(ATTRIBUTES) and len(state["coords"]) == 3
    status, kind, png = _get(server, "api/image?seed=3")
    assert kind == "image/png"
    image = np.asarray(Image.open(io.BytesIO(png)))
    expected = np.round(server.explorer.image(3) * 255)
    assert image.shape == (16, 16, 3)
    np.testing.assert_allclose(image, expected, atol=1)
    coords = ",".join(str(c) for c in state["coords"])
    moved = ",".join(str(c + (2.0 if i == 0 else 0.0) if abs(c) < 1 else -c)
                     for i, c in enumerate(state["coords"]))
    assert _get(server, f"api/image?seed=3&c={moved}")[2] != _get(server, f"api/image?seed=3&c={coords}")[2]
    assert _get(server, "api/image?seed=3&a=Male:1,Smiling:0&mode=refine")[0] == 200


@pytest.mark.backend
def test_diffusion_sliders_move_the_initial_noise_and_the_page_sets_the_steps():
    model = kerasgen.Diffusion(image_size=16, width=8, blocks=1, timesteps=50, seed=0)
    explorer = Explorer(model, n_components=4)
    d = explorer.directions
    assert d.shape == (4, 768)
    np.testing.assert_allclose(d @ d.T, np.eye(4), atol=1e-5)  # orthonormal
    # the first is the flat brightness pattern: the same value on every pixel and channel
    np.testing.assert_allclose(d[0], np.full(768, 1 / np.sqrt(768)), rtol=1e-5)
    info = explorer.info()
    assert info["steps"] == {"default": 20, "max": 50} and info["components"][0]["name"] == "N1"
    face = explorer.image(3, steps=2)
    np.testing.assert_allclose(face, model.generate(seed=3, n=1, steps=2)[0], atol=1e-6)
    moved = explorer.image(3, coords=[2.0, 0.0, 0.0, 0.0], steps=2)
    assert not np.allclose(moved, face)
    with pytest.raises(DataError, match=r"steps must be an integer in \[1, 50\]"):
        explorer.image(3, steps=51)
    server = ExplorerServer(explorer, port=0)
    start_in_thread(server)
    try:
        assert _get(server, "api/image?seed=3&steps=2")[0] == 200
        assert "steps must be an integer" in _error(server, "api/image?seed=3&steps=x")[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("path, status, message", [
    ("api/image?seed=3&steps=4", 400, "steps apply to diffusion models"),
    ("api/image?seed=3&c=0,9,0", 400, "finite numbers in [-3, 3]"),
    ("api/image?seed=3&c=0,abc,0", 400, "comma-separated numbers"),
    ("api/image?seed=3&c=0,0", 400, "expected 3 slider values"),
    ("api/image?seed=-2", 400, "seed must be an integer in [0, 2^31)"),
    ("api/image?seed=two", 400, "seed must be an integer"),
    ("api/image?seed=3&a=Beard:1", 400, "unknown attribute 'Beard'"),
    ("api/image?seed=3&a=Male:yes", 400, "attribute values are 0 or 1"),
    ("api/image?seed=3&mode=morph", 400, "mode must be one of"),
    ("api/nothing", 404, "no such page"),
])
def test_bad_requests_get_a_clear_error_and_the_server_keeps_serving(server, path, status,
                                                                      message):
    code, error = _error(server, path)
    assert code == status and message in error
    assert _get(server, "api/image?seed=1")[0] == 200


def test_a_port_in_use_is_named(cgan, server):
    with pytest.raises(DataError, match=f"port {server.server_address[1]} on 127.0.0.1 is in use"):
        ExplorerServer(server.explorer, port=server.server_address[1])


def test_the_command_line_names_a_bad_model_file_and_a_busy_port(tmp_path, cgan, capsys):
    from kerasgen import cli

    not_a_model = tmp_path / "notes.keras"
    not_a_model.write_text("not a model")
    assert cli.main(["explore", str(not_a_model)]) == 2
    assert "could not be loaded as a Keras model" in capsys.readouterr().err
    assert cli.main(["explore", str(tmp_path / "missing.keras")]) == 2
    assert "no model file at" in capsys.readouterr().err

    path = tmp_path / "cgan.keras"
    cgan.save(path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli.main(["explore", str(path), "--port", str(port), "--components", "2"]) == 2
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is in use" in err and "--port 0" in err


# ---- the server's guards (no model: a fake explorer) -----------------------------------------


class _FakeExplorer:
    """The three calls the server makes, without a model. `png` says it has started
    (`entered`) and then waits for `release`, holding the model lock as long as a test likes."""

    PNG = b"\x89PNG fake"

    def __init__(self, blocking=False):
        self.entered = threading.Event()
        self.release = threading.Event()
        if not blocking:
            self.release.set()

    def info(self):
        return {"model": "Fake"}

    def state(self, seed):
        return {"seed": seed}

    def png(self, **arguments):
        self.entered.set()
        assert self.release.wait(30)
        return self.PNG


@contextlib.contextmanager
def _serving(explorer=None, **options):
    explorer = explorer or _FakeExplorer()
    server = ExplorerServer(explorer, port=0, **options)
    start_in_thread(server)
    try:
        yield server
    finally:
        explorer.release.set()
        server.shutdown()
        server.server_close()


def _request(server, path, host=None, timeout=10):
    """`(status, body)` of GET `path`, with `host` as the Host header if given."""
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1],
                                            timeout=timeout)
    try:
        connection.putrequest("GET", path, skip_host=host is not None)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _raw(server, data, timeout=10):
    """What the server answers to the bytes `data` (until it closes the connection)."""
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout) as client:
        client.sendall(data)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    return answer


def _wait_until(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def _handler_threads():
    return {t for t in threading.enumerate() if "process_request_thread" in t.name}


def test_requests_naming_another_host_are_refused():
    # DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 sends
    # `Host: evil.example:PORT`; the server must not answer it.
    with _serving() as server:
        port = server.server_address[1]
        for host in ("evil.example", f"evil.example:{port}", f"localhost.evil.example:{port}",
                     f"127.0.0.1@evil.example:{port}", "localhost:1", f"192.0.2.7:{port}", ""):
            status, body = _request(server, "/api/info", host=host)
            error = json.loads(body)["error"]
            assert status == 403, host
            assert f"refused Host {host!r}" in error if host else "without a Host header" in error
            assert "DNS rebinding" in error and f"localhost:{port}" in error
        assert _raw(server, b"GET /api/info HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 403 ")
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", "localhost",
                     f"[::1]:{port}"):
            assert _request(server, "/api/info", host=host) == (200, b'{"model": "Fake"}'), host
        assert _get(server, "api/info")[0] == 200  # what a browser sends for server.url


def test_serving_beyond_loopback_warns_once(capsys):
    for host in ("127.0.0.1", "localhost"):
        ExplorerServer(_FakeExplorer(), host=host, port=0).server_close()
        assert capsys.readouterr().err == ""
    with _serving(host="0.0.0.0") as server:
        port = server.server_address[1]
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("kerasgen: warning: ")
        assert f"no authentication; anyone who can reach 0.0.0.0:{port} can use the model" in err
        # Reachable from other machines by address or by this machine's name; still not by
        # another name.
        for host in (f"192.0.2.7:{port}", f"{socket.gethostname()}:{port}", f"localhost:{port}"):
            assert _request(server, "/api/info", host=host)[0] == 200, host
        assert _request(server, "/api/info", host=f"evil.example:{port}")[0] == 403


def test_an_idle_connection_is_closed_after_the_timeout_quietly(capfd):
    with _serving(timeout=0.5) as server:
        with socket.create_connection(("127.0.0.1", server.server_address[1]), 10) as idle:
            start = time.monotonic()
            assert idle.recv(1) == b""  # closed by the server, not by our 10 s timeout
            assert time.monotonic() - start < 5
        assert _request(server, "/api/info")[0] == 200
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("verbose", [False, True])
def test_a_client_that_hangs_up_mid_request_leaves_no_traceback(capfd, verbose):
    explorer = _FakeExplorer(blocking=True)
    with _serving(explorer, verbose=verbose) as server:
        before = _handler_threads()
        client = socket.create_connection(("127.0.0.1", server.server_address[1]), 10)
        client.sendall(b"GET /api/image?seed=1 HTTP/1.1\r\nHost: localhost:%d\r\n\r\n"
                       % server.server_address[1])
        assert explorer.entered.wait(10)
        # Hang up with a reset (linger 0), so the server's answer surely fails to send.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        explorer.release.set()
        _wait_until(lambda: not (_handler_threads() - before))
        assert _request(server, "/api/info")[0] == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception occurred" not in err
    if verbose:
        assert err.count("disconnected") == 1
    else:
        assert err == ""


def test_model_calls_beyond_the_queue_bound_get_503():
    explorer = _FakeExplorer(blocking=True)
    with _serving(explorer, max_waiting=1) as server:
        answers = {}

        def fetch(name):
            answers[name] = _request(server, f"/api/image?seed={len(answers)}", timeout=30)

        first = threading.Thread(target=fetch, args=("first",))
        first.start()
        assert explorer.entered.wait(10)  # the first holds the model
        second = threading.Thread(target=fetch, args=("second",))
        second.start()
        _wait_until(lambda: server.queue_length == 2)  # the second waits for it
        for path in ("/api/image?seed=3", "/api/state?seed=3"):
            status, body = _request(server, path, timeout=5)  # answered at once, not queued
            assert status == 503 and json.loads(body)["error"].startswith("busy: "), path
        assert _request(server, "/api/info")[0] == 200  # no model call: not limited
        assert first.is_alive()
        explorer.release.set()
        first.join(10)
        second.join(10)
        assert answers == {"first": (200, explorer.PNG), "second": (200, explorer.PNG)}
        assert _request(server, "/api/image?seed=4") == (200, explorer.PNG)
        assert server.queue_length == 0
