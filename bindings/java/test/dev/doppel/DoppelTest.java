package dev.doppel;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.LongSummaryStatistics;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongConsumer;

/**
 * The Java bindings end to end: train, generate, save and reload, Arrow C streams (read and
 * written by a C consumer in the shim, standing in for Arrow Java), the privacy calculator, the
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
        check("generate 1,000 rows into an Arrow stream", this::arrowGenerate);
        check("same seed, same Arrow stream", this::arrowSameSeed);
        check("an Arrow stream outlives its model", this::arrowOutlivesModel);
        check("train from an Arrow stream", this::arrowRoundTrip);
        check("conditions and a seed stream steer generation", this::steered);
        check("imputation fills only the missing cells", this::impute);
        check("the privacy filter drops copies of training rows", this::filtered);
        check("Arrow error paths take the stream over", this::arrowErrors);
        check("4 threads fill Arrow streams", this::arrowThreads);
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

    /** A column as the shim's C reader summarised it; min and max are "-" unless Int64. */
    private record Column(String name, String format, long nulls, String min, String max) {}

    /** A whole Arrow stream as the shim's C reader saw it; the digest hashes every value. */
    private record StreamContent(long rows, String digest, List<Column> columns) {
        List<String> names() {
            return columns.stream().map(Column::name).toList();
        }

        List<String> formats() {
            return columns.stream().map(Column::format).toList();
        }
    }

    /**
     * A {@code struct ArrowArrayStream} in native memory, as Arrow Java's
     * {@code ArrowArrayStream.allocateNew} makes one: zeroed, so empty until filled. Closing
     * releases it if it is still live and frees it, so that checks stay leak-free on failure.
     */
    private static final class ArrowStream implements AutoCloseable {
        final long address = Native.allocateArrowStream();

        /** Whether its release callback is NULL: empty, released or taken over. */
        boolean released() {
            return Native.arrowStreamReleased(address);
        }

        /** Reads every batch through the shim's C consumer, which then releases the stream. */
        StreamContent read() {
            String[] lines = Native.text(Native.readArrowStream(address)).split("\n");
            String[] head = lines[0].split("\t");
            List<Column> columns = new ArrayList<>();
            for (int i = 1; i < lines.length; i++) {
                String[] f = lines[i].split("\t", -1);
                columns.add(new Column(f[0], f[1], Long.parseLong(f[2]), f[3], f[4]));
            }
            return new StreamContent(Long.parseLong(head[0]), head[1], columns);
        }

        @Override
        public void close() {
            Native.freeArrowStream(address);
        }
    }

    /** The content of {@code rows} rows generated with {@code seed} by {@code from}. */
    private static StreamContent generated(Model from, long rows, long seed) {
        try (ArrowStream stream = new ArrowStream()) {
            from.generateArrow(rows, seed, stream.address);
            return stream.read();
        }
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

    private void arrowGenerate() throws IOException {
        StreamContent content;
        try (ArrowStream stream = new ArrowStream()) {
            expect(stream.released(), "a new stream is empty");
            model().generateArrow(1000, 7, stream.address);
            expect(!stream.released(), "generateArrow fills the stream");
            content = stream.read();
            expect(stream.released(), "the reader released it");
        }
        expect(content.rows() == 1000, content.rows() + " rows");
        List<String> header = Arrays.asList(lines(data).get(0).split(","));
        expect(content.names().equals(header), "columns " + content.names());
        // Int64 for the integer columns (age, hours-per-week), Utf8 for the others.
        expect(content.formats().equals(List.of("l", "u", "u", "u", "l", "u")),
                "formats " + content.formats());
        // The same rows as the CSV that generateRows wrote with seed 7.
        List<String[]> csv = lines(dir.resolve("rows.csv")).stream().skip(1)
                .map(line -> line.split(",", -1)).toList();
        for (int c = 0; c < header.size(); c++) {
            Column column = content.columns().get(c);
            int at = c;
            long missing = csv.stream().filter(row -> isMissing(row[at])).count();
            expect(column.nulls() == missing, column + ": " + missing + " missing in the CSV");
            if (column.format().equals("l")) {
                LongSummaryStatistics values = csv.stream().filter(row -> !isMissing(row[at]))
                        .mapToLong(row -> Long.parseLong(row[at])).summaryStatistics();
                expect(column.min().equals(Long.toString(values.getMin()))
                        && column.max().equals(Long.toString(values.getMax())),
                        column + " vs the CSV's " + values);
            }
        }
        Column age = content.columns().get(0);
        expect(Long.parseLong(age.min()) >= 17 && Long.parseLong(age.max()) <= 90,
                "ages within the training range 17..90: " + age);
    }

    /**
     * Whether a CSV cell is a missing value: empty, or "?" as this data set spells it (the
     * library reads both as missing, and Arrow streams carry them as nulls).
     */
    private static boolean isMissing(String cell) {
        return cell.isEmpty() || cell.equals("?");
    }

    private void arrowSameSeed() {
        String first = generated(model(), 300, 7).digest();
        expect(first.equals(generated(model(), 300, 7).digest()), "seed 7 twice");
        expect(!first.equals(generated(model(), 300, 8).digest()), "seeds 7 and 8");
        StreamContent none = generated(model(), 0, 7);
        expect(none.rows() == 0 && none.columns().size() == 6, "0 rows, 6 columns: " + none);
        try (ArrowStream stream = new ArrowStream()) {
            expectThrows(IllegalArgumentException.class,
                    () -> model().generateArrow(-1, 7, stream.address));
            expect(stream.released(), "a refused call leaves the stream empty");
        }
    }

    private void arrowOutlivesModel() {
        String expected = generated(model(), 300, 7).digest();
        Model copy = Doppel.modelFromBytes(model().toBytes());
        try (ArrowStream stream = new ArrowStream()) {
            copy.generateArrow(300, 7, stream.address);
            copy.close();
            // The stream holds its own reference: the rows are made now, after the close.
            StreamContent content = stream.read();
            expect(content.rows() == 300, content.rows() + " rows after the model closed");
            expect(content.digest().equals(expected), "the same rows as a live model makes");
        }
        try (ArrowStream stream = new ArrowStream()) {
            IllegalStateException closed = expectThrows(IllegalStateException.class,
                    () -> copy.generateArrow(10, 1, stream.address));
            expect(closed.getMessage().contains("model is closed"), closed.getMessage());
            expect(stream.released(), "a closed model leaves the stream empty");
        }
    }

    private void arrowRoundTrip() throws IOException {
        List<Progress> reports = new ArrayList<>();
        try (ArrowStream stream = new ArrowStream()) {
            model().generateArrow(500, 11, stream.address);
            try (Model second = Doppel.trainArrow(stream.address, config, reports::add)) {
                // Taken over: release is NULL, so closing the storage releases nothing twice.
                expect(stream.released(), "trainArrow took the stream over");
                Path out = dir.resolve("from-arrow.csv");
                second.generate(100, 1, out);
                List<String> rows = lines(out);
                expect(rows.size() == 101, rows.size() + " lines");
                expect(rows.get(0).equals(lines(data).get(0)), "header " + rows.get(0));
                StreamContent again = generated(second, 100, 1);
                expect(again.rows() == 100 && again.names().equals(
                        Arrays.asList(rows.get(0).split(","))), "columns " + again.names());
            }
        }
        expect(!reports.isEmpty(), "progress while training from a stream");
        Progress last = reports.get(reports.size() - 1);
        expect(last.epoch() == 2 && last.step() == last.stepsPerEpoch(), "last report " + last);
    }

    private void arrowErrors() {
        expectStatus(Status.NULL_PARAMETER, "stream is NULL", () -> Doppel.trainArrow(0, config));
        expectStatus(Status.NULL_PARAMETER, "out_stream is NULL",
                () -> model().generateArrow(10, 1, 0));
        Config closed = Config.fromJson(FAST);
        closed.close();
        IllegalStateException error = expectThrows(IllegalStateException.class,
                () -> takenOver(stream -> Doppel.trainArrow(stream, closed)));
        expect(error.getMessage().contains("config is closed"), error.getMessage());
        expectThrows(NullPointerException.class,
                () -> takenOver(stream -> Doppel.trainArrow(stream, null)));
        AtomicInteger calls = new AtomicInteger();
        expectStatus(Status.CANCELLED, "", () -> takenOver(stream ->
                Doppel.trainArrow(stream, config, p -> {
                    calls.incrementAndGet();
                    return false;
                })));
        expect(calls.get() == 1, calls.get() + " calls after cancelling");
        IllegalStateException boom = new IllegalStateException("boom from the listener");
        IllegalStateException caught = expectThrows(IllegalStateException.class,
                () -> takenOver(stream -> Doppel.trainArrow(stream, config, p -> {
                    throw boom;
                })));
        expect(caught == boom, "the listener's own exception: " + caught);
        expectStatus(Status.INVALID_DATA, "no data rows",
                () -> takenOver(0, stream -> Doppel.trainArrow(stream, config)));
    }

    private void steered() throws IOException {
        Path old = dir.resolve("old.csv");
        model().generateSteered(
                "{\"rows\": 300, \"seed\": 3, \"where\": \"age >= 60\"}", 0, old);
        List<String> rows = lines(old);
        expect(rows.size() == 301, rows.size() + " lines");
        for (String row : rows.subList(1, rows.size())) {
            expect(Integer.parseInt(row.split(",")[0]) >= 60, "age >= 60: " + row);
        }
        // A seed of 300 generated rows: its cells come out exactly, missing ones ("?" in the
        // CSV, nulls in the stream) are generated.
        Path seeded = dir.resolve("seeded.csv");
        takenOver(stream -> model().generateSteered("{}", stream, seeded));
        model().generate(300, 5, dir.resolve("seed-source.csv"));
        List<String> source = lines(dir.resolve("seed-source.csv"));
        List<String> out = lines(seeded);
        expect(out.size() == source.size(), out.size() + " lines, want " + source.size());
        for (int r = 1; r < Math.min(out.size(), source.size()); r++) {
            String[] given = source.get(r).split(",", -1);
            String[] got = out.get(r).split(",", -1);
            for (int c = 0; c < given.length; c++) {
                expect(given[c].equals("?") ? !got[c].equals("?") : given[c].equals(got[c]),
                        "row " + r + ": " + source.get(r) + " came out as " + out.get(r));
            }
        }
        expectStatus(Status.INVALID_CONFIG, "wher", () -> takenOver(stream ->
                model().generateSteered("{\"wher\": \"age > 3\"}", stream, seeded)));
        expectStatus(Status.INVALID_CONFIG, "Robot", () -> model().generateSteered(
                "{\"where\": \"sex = Robot\"}", 0, dir.resolve("never.csv")));
        expect(!Files.exists(dir.resolve("never.csv")), "nothing written on failure");
        try (ArrowStream out2 = new ArrowStream()) {
            model().generateSteeredArrow("{\"rows\": 200, \"where\": \"age < 30\"}", 0,
                    out2.address);
            StreamContent content = out2.read();
            expect(content.rows() == 200, content.rows() + " rows");
            expect(Long.parseLong(content.columns().get(0).max()) < 30,
                    "the largest age is below 30: " + content.columns().get(0));
        }
    }

    private void impute() throws IOException {
        Path imputed = dir.resolve("imputed.csv");
        takenOver(stream -> model().impute("{\"seed\": 2}", stream, 3, imputed));
        model().generate(300, 5, dir.resolve("impute-source.csv"));
        List<String> source = lines(dir.resolve("impute-source.csv"));
        List<String> out = lines(imputed);
        expect(out.size() == source.size(), out.size() + " lines");
        int filled = 0;
        for (int r = 1; r < Math.min(out.size(), source.size()); r++) {
            String[] given = source.get(r).split(",", -1);
            String[] got = out.get(r).split(",", -1);
            for (int c = 0; c < given.length; c++) {
                filled += given[c].equals("?") ? 1 : 0;
                expect(given[c].equals("?") ? !got[c].equals("?") : given[c].equals(got[c]),
                        "row " + r + ": " + source.get(r) + " imputed as " + out.get(r));
            }
        }
        expect(filled > 0, "the table had no missing cell: the check checks nothing");
        expectThrows(IllegalArgumentException.class,
                () -> takenOver(stream -> model().impute("{}", stream, 0, imputed)));
        expectStatus(Status.NULL_PARAMETER, "table is NULL",
                () -> model().impute("{}", 0, 1, imputed));
    }

    private void filtered() throws IOException {
        // Stand-in training rows: the 300 rows of takenOver's stream, as CSV lines.
        model().generate(300, 5, dir.resolve("filter-training.csv"));
        Set<String> training = new HashSet<>(lines(dir.resolve("filter-training.csv")));
        String options = "{\"rows\": 300, \"seed\": 5}";
        Path filtered = dir.resolve("filtered.csv");
        model().generateSteered(options, 0, filtered);
        long copies = lines(filtered).stream().skip(1).filter(training::contains).count();
        expect(copies > 0, "unfiltered, no copy of a training row: the check checks nothing");
        long[] dropped = {0};
        takenOver(stream -> dropped[0] = model().generateFiltered(options, stream, 0, filtered));
        List<String> out = lines(filtered);
        expect(out.size() == 301, out.size() + " lines");
        for (String row : out.subList(1, out.size())) {
            expect(!training.contains(row), "a copy of a training row: " + row);
        }
        expect(dropped[0] > 0, dropped[0] + " rows dropped");
        expectStatus(Status.INVALID_CONFIG, "distance", () -> takenOver(stream ->
                model().generateFiltered(options, stream, 1.5, filtered)));
        String json = "{\"training\": {\"max_epochs\": 1, \"batch_size\": 64}, \"privacy\": "
                + "{\"dp\": true, \"noise_multiplier\": 1.0}}";
        try (Config dp = Config.fromJson(json); Model trained = Doppel.train(data, dp)) {
            expectStatus(Status.INVALID_CONFIG, "DP", () -> takenOver(stream ->
                    trained.generateFiltered(options, stream, 0, filtered)));
        }
    }

    /** Fills a stream with 300 rows, hands it to {@code call}, and checks it was taken over. */
    private void takenOver(LongConsumer call) {
        takenOver(300, call);
    }

    /** {@link #takenOver(LongConsumer)} with {@code rows} rows. */
    private void takenOver(long rows, LongConsumer call) {
        try (ArrowStream stream = new ArrowStream()) {
            model().generateArrow(rows, 5, stream.address);
            try {
                call.accept(stream.address);
            } finally {
                expect(stream.released(), "the stream was taken over (release is NULL)");
            }
        }
    }

    private void arrowThreads() throws Exception {
        int count = 4;
        CyclicBarrier start = new CyclicBarrier(count);
        ExecutorService pool = Executors.newFixedThreadPool(count);
        try {
            List<Future<StreamContent>> done = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                long seed = i;
                done.add(pool.submit(() -> {
                    start.await();
                    return generated(model(), 2_000, seed);
                }));
            }
            for (int i = 0; i < count; i++) {
                StreamContent threaded = done.get(i).get(120, TimeUnit.SECONDS);
                StreamContent alone = generated(model(), 2_000, i);
                expect(threaded.rows() == 2_000, threaded.rows() + " rows on thread " + i);
                expect(threaded.digest().equals(alone.digest()), "thread " + i + " = one thread");
            }
        } finally {
            pool.shutdownNow();
        }
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
