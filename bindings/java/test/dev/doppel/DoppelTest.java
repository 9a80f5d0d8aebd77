package dev.doppel;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The Java bindings end to end: train, generate, save and reload, the privacy calculator, the
 * report, progress and cancellation, threads, closed handles and error paths. Run as
 * {@code java dev.doppel.DoppelTest DATA.csv}; prints "java: N passed, M failed" and exits 1
 * on any failure.
 */
public final class DoppelTest {
    private static final String FAST = "{\"training\": {\"max_epochs\": 2, \"batch_size\": 64}}";

    /** A check's body; it fails by throwing. */
    @FunctionalInterface
    private interface Body {
        void run() throws Exception;
    }

    private final Path data;
    private final Path dir;
    private int passed;
    private int failed;
    private Config config;
    private Model model;
    private final List<Progress> progress = new ArrayList<>();

    private DoppelTest(Path data, Path dir) {
        this.data = data;
        this.dir = dir;
    }

    /**
     * Runs every check.
     *
     * @param args the training CSV (tests/data/adult_small.csv)
     * @throws IOException when the scratch directory cannot be made
     */
    public static void main(String[] args) throws IOException {
        Path data = Path.of(args.length > 0 ? args[0] : "tests/data/adult_small.csv");
        DoppelTest test = new DoppelTest(data, Files.createTempDirectory("doppel-java"));
        test.runAll();
        System.out.printf("java: %d passed, %d failed%n", test.passed, test.failed);
        System.exit(test.failed == 0 ? 0 : 1);
    }

    private void runAll() {
        check("version and build info", this::versionAndBuildInfo);
        check("status and accountant codes", this::codes);
        check("a bad config key is named", this::badConfigKey);
        check("a NUL inside text is refused", this::nulInText);
        check("a missing file is an IO error naming it", this::missingFile);
        check("train with progress", this::trainWithProgress);
        check("generate 1,000 rows with the training columns", this::generateRows);
        check("same seed, same rows", this::sameSeed);
        check("save and load a model file", this::saveAndLoad);
        check("model to bytes and back", this::bytesRoundTrip);
        check("a file that is not a model", this::invalidModel);
        check("privacy calculator", this::privacyCalculator);
        check("privacy calculator errors", this::privacyErrors);
        check("the listener cancels training", this::cancel);
        check("an exception from the listener is rethrown", this::listenerThrows);
        check("a checked exception from the listener is rethrown", this::listenerThrowsChecked);
        check("closing the config from its own listener", this::closeConfigInListener);
        check("training with DP reports epsilon", this::trainWithPrivacy);
        check("8 threads generate what one thread does", this::threads);
        check("report as JSON", this::report);
        check("report errors", this::reportErrors);
        check("non-ASCII paths", this::nonAsciiPaths);
        check("close waits for calls in flight", this::closeWaits);
        check("close while 4 threads generate", this::closeUnderLoad);
        check("a closed model and config throw", this::closedHandles);
        check("the cleaner frees an unclosed handle", this::cleaner);
    }

    private void check(String name, Body body) {
        try {
            body.run();
            passed++;
        } catch (Throwable thrown) {
            failed++;
            System.err.println("FAIL " + name + ": " + thrown);
            thrown.printStackTrace();
        }
    }

    private static void expect(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    /** Runs {@code body}, which must throw a {@code type}; returns what it threw. */
    private static <T extends Throwable> T expectThrows(Class<T> type, Body body) {
        try {
            body.run();
        } catch (Throwable thrown) {
            if (type.isInstance(thrown)) {
                return type.cast(thrown);
            }
            throw new AssertionError("expected " + type.getSimpleName() + ", got " + thrown,
                    thrown);
        }
        throw new AssertionError("expected " + type.getSimpleName() + ", nothing thrown");
    }

    /** Runs {@code body}, which must fail in the library with {@code status}. */
    private static DoppelException expectStatus(Status status, String inMessage, Body body) {
        DoppelException error = expectThrows(DoppelException.class, body);
        expect(error.status() == status, "status " + error.status() + ", not " + status);
        expect(error.code() == status.code(), "code " + error.code());
        expect(error.getMessage().contains(inMessage),
                "message '" + error.getMessage() + "' lacks '" + inMessage + "'");
        return error;
    }

    private static List<String> lines(Path file) throws IOException {
        return Files.readAllLines(file, StandardCharsets.UTF_8);
    }

    /** The model trained by {@link #trainWithProgress}, for the checks that follow it. */
    private Model model() {
        expect(model != null, "no model: training failed");
        return model;
    }

    private void versionAndBuildInfo() {
        String version = Doppel.version();
        expect(version.matches("\\d+\\.\\d+\\.\\d+.*"), "version " + version);
        String info = Doppel.buildInfo();
        expect(info.contains("\"version\":\"" + version + "\""), "build info " + info);
        expect(info.contains("\"cuda\":"), "build info " + info);
    }

    private void codes() {
        Status[] statuses = Status.values();
        expect(statuses.length == 10, "10 statuses");
        for (int i = 0; i < statuses.length; i++) {
            expect(statuses[i].code() == i && Status.fromCode(i) == statuses[i], "code " + i);
        }
        expect(Status.fromCode(3) == Status.INVALID_CONFIG, "3 is INVALID_CONFIG");
        expect(Status.fromCode(1000) == Status.INTERNAL, "unknown codes are INTERNAL");
        expect(Accountant.PRV.code() == 0 && Accountant.RDP.code() == 1, "accountant codes");
    }

    private void badConfigKey() {
        expectStatus(Status.INVALID_CONFIG, "trainin", () -> Config.fromJson("{\"trainin\": {}}"));
        expectStatus(Status.INVALID_CONFIG, "training.max_epochs: invalid type",
                () -> Config.fromJson("{\"training\": {\"max_epochs\": \"two\"}}"));
    }

    private void nulInText() {
        expectThrows(IllegalArgumentException.class, () -> Config.fromJson("{}\0"));
        expectThrows(NullPointerException.class, () -> Config.fromJson(null));
    }

    private void missingFile() {
        config = Config.fromJson(FAST);
        expectStatus(Status.IO, "missing.csv",
                () -> Doppel.train(dir.resolve("missing.csv"), config));
        expectStatus(Status.IO, "missing.doppel",
                () -> Doppel.loadModel(dir.resolve("missing.doppel")));
    }

    private void trainWithProgress() {
        if (config == null) {
            config = Config.fromJson(FAST);
        }
        model = Doppel.train(data, config, progress::add);
        expect(progress.size() >= 2, progress.size() + " progress reports");
        Progress last = progress.get(progress.size() - 1);
        expect(last.epoch() == 2 && last.step() == last.stepsPerEpoch(), "last report " + last);
        for (Progress p : progress) {
            expect(p.epoch() >= 1 && p.epoch() <= 2, "epoch of " + p);
            expect(p.step() >= 1 && p.step() <= p.stepsPerEpoch(), "step of " + p);
            expect(Double.isFinite(p.loss()), "loss of " + p);
            expect(p.epsilon().isEmpty(), "no epsilon without DP: " + p);
        }
        expect(progress.size() == 2 * last.stepsPerEpoch(), "one report per step");
    }

    private void generateRows() throws IOException {
        Path out = dir.resolve("rows.csv");
        model().generate(1000, 7, out);
        List<String> rows = lines(out);
        expect(rows.size() == 1001, rows.size() + " lines");
        expect(rows.get(0).equals(lines(data).get(0)), "header " + rows.get(0));
        expect(rows.get(0).equals("age,workclass,education,sex,hours-per-week,income-per-year"),
                "header " + rows.get(0));
    }

    private void sameSeed() throws IOException {
        Path first = dir.resolve("seed7a.csv");
        Path second = dir.resolve("seed7b.csv");
        Path other = dir.resolve("seed8.csv");
        model().generate(300, 7, first);
        model().generate(300, 7, second);
        model().generate(300, 8, other);
        expect(Arrays.equals(Files.readAllBytes(first), Files.readAllBytes(second)),
                "seed 7 twice");
        expect(!Arrays.equals(Files.readAllBytes(first), Files.readAllBytes(other)), "seeds 7, 8");
        model().generate(0, 7, dir.resolve("none.csv"));
        expect(lines(dir.resolve("none.csv")).size() <= 1, "0 rows");
        expectThrows(IllegalArgumentException.class, () -> model().generate(-1, 7, first));
        model().generate(10, -1L, dir.resolve("seed-max.csv"));
        expect(lines(dir.resolve("seed-max.csv")).size() == 11, "seed 2^64-1 is a seed");
    }

    private void saveAndLoad() throws IOException {
        Path file = dir.resolve("m.doppel");
        model().save(file);
        expect(Files.size(file) > 0, "saved file is empty");
        try (Model loaded = Doppel.loadModel(file)) {
            loaded.generate(300, 7, dir.resolve("loaded.csv"));
        }
        expect(Arrays.equals(Files.readAllBytes(dir.resolve("seed7a.csv")),
                Files.readAllBytes(dir.resolve("loaded.csv"))), "reloaded model, same rows");
        expectStatus(Status.IO, "no-such-dir",
                () -> model().save(dir.resolve("no-such-dir/m.doppel")));
    }

    private void bytesRoundTrip() throws IOException {
        byte[] bytes = model().toBytes();
        expect(bytes.length > 100, bytes.length + " bytes");
        try (Model copy = Doppel.modelFromBytes(bytes)) {
            Arrays.fill(bytes, (byte) 0); // the library copied them
            copy.generate(300, 7, dir.resolve("copy.csv"));
            expect(Arrays.equals(copy.toBytes(), model().toBytes()), "bytes of the copy");
        }
        expect(Arrays.equals(Files.readAllBytes(dir.resolve("seed7a.csv")),
                Files.readAllBytes(dir.resolve("copy.csv"))), "copied model, same rows");
    }

    private void invalidModel() {
        expectStatus(Status.INVALID_MODEL, "", () -> Doppel.loadModel(data));
        expectStatus(Status.INVALID_MODEL, "", () -> Doppel.modelFromBytes(new byte[] {1, 2, 3}));
        expectStatus(Status.INVALID_MODEL, "", () -> Doppel.modelFromBytes(new byte[0]));
    }

    private void privacyCalculator() {
        for (Accountant accountant : Accountant.values()) {
            double epsilon = Doppel.privacyEpsilon(accountant, 0.01, 1.0, 1000, 1e-5);
            expect(epsilon > 0.1 && epsilon < 10, accountant + " epsilon " + epsilon);
            double sigma = Doppel.privacyNoise(accountant, epsilon, 1e-5, 0.01, 1000);
            expect(Math.abs(sigma - 1.0) < 1e-3, accountant + " noise " + sigma);
        }
        double rdp = Doppel.privacyEpsilon(Accountant.RDP, 0.01, 1.0, 1000, 1e-5);
        double prv = Doppel.privacyEpsilon(Accountant.PRV, 0.01, 1.0, 1000, 1e-5);
        expect(prv < rdp, "PRV " + prv + " is tighter than RDP " + rdp);
        double more = Doppel.privacyEpsilon(Accountant.RDP, 0.01, 1.0, 4000, 1e-5);
        expect(more > rdp, "more steps spend more");
    }

    private void privacyErrors() {
        expectStatus(Status.INVALID_ARGUMENT, "sampling_rate",
                () -> Doppel.privacyEpsilon(Accountant.PRV, 1.5, 1.0, 10, 1e-5));
        expectStatus(Status.INVALID_ARGUMENT, "noise_multiplier",
                () -> Doppel.privacyEpsilon(Accountant.RDP, 0.01, -1.0, 10, 1e-5));
        expectStatus(Status.INVALID_ARGUMENT, "",
                () -> Doppel.privacyNoise(Accountant.RDP, -2.0, 1e-5, 0.01, 10));
        expectThrows(IllegalArgumentException.class,
                () -> Doppel.privacyEpsilon(Accountant.RDP, 0.01, 1.0, -5, 1e-5));
        expectThrows(NullPointerException.class,
                () -> Doppel.privacyEpsilon(null, 0.01, 1.0, 5, 1e-5));
    }

    private void cancel() {
        AtomicInteger calls = new AtomicInteger();
        expectStatus(Status.CANCELLED, "", () -> Doppel.train(data, config, p -> {
            calls.incrementAndGet();
            return false;
        }));
        expect(calls.get() == 1, calls.get() + " calls after cancelling");
    }

    private void listenerThrows() {
        AtomicInteger calls = new AtomicInteger();
        IllegalStateException boom = new IllegalStateException("boom from the listener");
        IllegalStateException caught = expectThrows(IllegalStateException.class,
                () -> Doppel.train(data, config, p -> {
                    calls.incrementAndGet();
                    throw boom;
                }));
        expect(caught == boom, "the listener's own exception: " + caught);
        expect(calls.get() == 1, calls.get() + " calls after throwing");
    }

    private void listenerThrowsChecked() {
        IOException checked = new IOException("checked, from the listener");
        IOException caught = expectThrows(IOException.class,
                () -> Doppel.train(data, config, p -> sneaky(checked)));
        expect(caught == checked, "the listener's own exception: " + caught);
    }

    @SuppressWarnings("unchecked")
    private static <T extends Throwable> boolean sneaky(Throwable thrown) throws T {
        throw (T) thrown;
    }

    private void closeConfigInListener() {
        Config own = Config.fromJson(FAST);
        IllegalStateException caught = expectThrows(IllegalStateException.class,
                () -> Doppel.train(data, own, p -> {
                    own.close();
                    return true;
                }));
        expect(caught.getMessage().contains("in use"), caught.getMessage());
        own.close();
        expectThrows(IllegalStateException.class, () -> Doppel.train(data, own));
    }

    private void trainWithPrivacy() {
        List<Progress> reports = new ArrayList<>();
        String json = "{\"training\": {\"max_epochs\": 1, \"batch_size\": 64}, \"privacy\": "
                + "{\"dp\": true, \"noise_multiplier\": 1.0, \"deterministic_noise\": true}}";
        try (Config dp = Config.fromJson(json);
                Model trained = Doppel.train(data, dp, reports::add)) {
            expect(trained.toBytes().length > 0, "a DP model");
        }
        expect(!reports.isEmpty(), "progress under DP");
        Progress last = reports.get(reports.size() - 1);
        expect(last.epsilon().orElse(0) > 0, "epsilon at the end of the epoch: " + last);
        double previous = 0;
        for (Progress p : reports) {
            // Present on every step under DP; the library updates it at the end of each epoch.
            double epsilon = p.epsilon().orElse(-1);
            expect(epsilon >= previous, "epsilon never shrinks: " + p);
            previous = epsilon;
        }
    }

    private void threads() throws Exception {
        int count = 8;
        CyclicBarrier start = new CyclicBarrier(count);
        ExecutorService pool = Executors.newFixedThreadPool(count);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                long seed = i;
                done.add(pool.submit(() -> {
                    start.await();
                    model().generate(500, seed, dir.resolve("thread" + seed + ".csv"));
                    return null;
                }));
            }
            for (Future<?> future : done) {
                future.get(120, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        for (int i = 0; i < count; i++) {
            Path alone = dir.resolve("alone" + i + ".csv");
            model().generate(500, i, alone);
            byte[] expected = Files.readAllBytes(alone);
            expect(Arrays.equals(expected, Files.readAllBytes(dir.resolve("thread" + i + ".csv"))),
                    "thread " + i + " matches one thread");
            expect(lines(alone).size() == 501, "501 lines");
        }
    }

    private void report() {
        String json = Doppel.reportJson(data, dir.resolve("rows.csv"));
        expect(json.startsWith("{\"format\":\"doppel-report\""), json.substring(0, 60));
        expect(json.contains("\"workclass\""), "the report names the columns");
        String withOptions = Doppel.reportJson(data, dir.resolve("rows.csv"), null,
                "{\"target\": \"income-per-year\"}");
        expect(withOptions.contains("\"income-per-year\""), "the report with a target");
    }

    private void reportErrors() {
        Path rows = dir.resolve("rows.csv");
        expectStatus(Status.INVALID_DATA, "no column 'nope'",
                () -> Doppel.reportJson(data, rows, null, "{\"target\": \"nope\"}"));
        expectStatus(Status.INVALID_ARGUMENT, "options_json",
                () -> Doppel.reportJson(data, rows, null, "{"));
        expectStatus(Status.IO, "absent-holdout.csv",
                () -> Doppel.reportJson(data, rows, dir.resolve("absent-holdout.csv"), null));
        expectStatus(Status.IO, "absent-synthetic.csv",
                () -> Doppel.reportJson(data, dir.resolve("absent-synthetic.csv")));
    }

    private void nonAsciiPaths() throws IOException {
        // Java maps file names through sun.jnu.encoding; the run script sets a UTF-8 locale.
        String encoding = System.getProperty("sun.jnu.encoding");
        expect("UTF-8".equals(encoding), "needs a UTF-8 locale (LC_ALL=C.UTF-8), not " + encoding);
        Path folder = Files.createDirectory(dir.resolve("données-😀"));
        Path rows = folder.resolve("lignes-é.csv");
        model().generate(20, 1, rows);
        expect(lines(rows).size() == 21, "rows at a non-ASCII path");
        Path saved = folder.resolve("modèle.doppel");
        model().save(saved);
        try (Model loaded = Doppel.loadModel(saved)) {
            expect(loaded.toBytes().length > 0, "model at a non-ASCII path");
        }
        expectStatus(Status.IO, "absent-😀.csv",
                () -> Doppel.train(folder.resolve("absent-😀.csv"), config));
    }

    private void closeWaits() throws Exception {
        AtomicBoolean inFlight = new AtomicBoolean();
        AtomicBoolean freedDuringCall = new AtomicBoolean();
        AtomicInteger frees = new AtomicInteger();
        Handle handle = new Handle(42, address -> {
            frees.incrementAndGet();
            freedDuringCall.set(inFlight.get() || address != 42);
        }, "test handle");
        CountDownLatch entered = new CountDownLatch(1);
        Thread caller = new Thread(() -> handle.accept(address -> {
            inFlight.set(true);
            entered.countDown();
            sleep(300);
            inFlight.set(false);
        }));
        caller.start();
        expect(entered.await(10, TimeUnit.SECONDS), "the call started");
        long started = System.nanoTime();
        handle.close();
        long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        caller.join();
        expect(frees.get() == 1 && !freedDuringCall.get(), "freed once, after the call");
        expect(waited >= 150, "close waited " + waited + " ms");
        handle.close();
        expect(frees.get() == 1, "a second close frees nothing");
        IllegalStateException closed =
                expectThrows(IllegalStateException.class, () -> handle.accept(address -> { }));
        expect(closed.getMessage().contains("test handle is closed"), closed.getMessage());
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void closeUnderLoad() throws Exception {
        Model victim = Doppel.modelFromBytes(model().toBytes());
        int count = 4;
        CountDownLatch started = new CountDownLatch(count);
        ExecutorService pool = Executors.newFixedThreadPool(count);
        List<Future<String>> outcomes = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) {
                Path out = dir.resolve("load" + i + ".csv");
                outcomes.add(pool.submit(() -> {
                    started.countDown();
                    try {
                        victim.generate(20_000, 3, out);
                        return lines(out).size() == 20_001 ? "done" : "short file";
                    } catch (IllegalStateException closed) {
                        return "closed";
                    }
                }));
            }
            expect(started.await(10, TimeUnit.SECONDS), "threads started");
            victim.close();
            for (Future<String> outcome : outcomes) {
                String result = outcome.get(120, TimeUnit.SECONDS);
                expect(result.equals("done") || result.equals("closed"), result);
            }
        } finally {
            pool.shutdownNow();
        }
        expectThrows(IllegalStateException.class,
                () -> victim.generate(1, 1, dir.resolve("x.csv")));
    }

    private void closedHandles() {
        Model closing = Doppel.modelFromBytes(model().toBytes());
        closing.close();
        closing.close();
        Path out = dir.resolve("closed.csv");
        IllegalStateException error =
                expectThrows(IllegalStateException.class, () -> closing.generate(10, 1, out));
        expect(error.getMessage().contains("model is closed"), error.getMessage());
        expectThrows(IllegalStateException.class, () -> closing.save(dir.resolve("closed.doppel")));
        expectThrows(IllegalStateException.class, closing::toBytes);
        expect(!Files.exists(out), "nothing generated by a closed model");
        Config closed = Config.defaults();
        closed.close();
        expectThrows(IllegalStateException.class, () -> Doppel.train(data, closed));
    }

    private void cleaner() throws InterruptedException {
        AtomicInteger frees = new AtomicInteger();
        makeGarbageHandle(frees);
        for (int i = 0; i < 100 && frees.get() == 0; i++) {
            System.gc();
            Thread.sleep(50);
        }
        expect(frees.get() == 1, "an unreachable handle is freed once, got " + frees.get());
        // Real handles left for the cleaner must not crash the process either.
        Doppel.modelFromBytes(model().toBytes());
        Config.defaults();
        System.gc();
    }

    private static void makeGarbageHandle(AtomicInteger frees) {
        new Handle(7, address -> frees.incrementAndGet(), "garbage");
    }
}
