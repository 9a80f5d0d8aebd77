package dev.doppel;

import java.nio.file.Path;
import java.util.Objects;
import java.util.function.LongSupplier;

/**
 * The entry points of doppel: training (from a file or an Arrow C stream), loading models,
 * the privacy calculator, reports.
 */
public final class Doppel {
    private Doppel() {}

    /**
     * The library version.
     *
     * @return e.g. {@code 0.1.0}
     */
    public static String version() {
        return Native.text(Native.version());
    }

    /**
     * How the library was built.
     *
     * @return JSON, e.g. {@code {"version":"0.1.0","cuda":false}}
     */
    public static String buildInfo() {
        return Native.text(Native.buildInfo());
    }

    /**
     * Trains a model on a CSV, Parquet or Arrow IPC file (by extension; an extension that names
     * no format throws {@link Status#INVALID_ARGUMENT}).
     *
     * @param data the training table
     * @param config the training configuration
     * @return the trained model; close it when done
     * @throws DoppelException e.g. {@link Status#IO} for a missing file
     */
    public static Model train(Path data, Config config) {
        return train(data, config, null);
    }

    /**
     * Trains a model, reporting progress after each step.
     *
     * @param data the training table
     * @param config the training configuration
     * @param listener receives progress on this thread and may cancel; may be null
     * @return the trained model; close it when done
     * @throws DoppelException {@link Status#CANCELLED} when the listener returned false
     */
    public static Model train(Path data, Config config, ProgressListener listener) {
        Objects.requireNonNull(config, "config");
        byte[] file = Native.cPath(data, "data");
        ProgressBridge bridge = listener == null ? null : new ProgressBridge(listener);
        return trained(bridge, () -> config.handle().apply(c -> Native.trainFile(c, file, bridge)));
    }

    /**
     * Trains a model on the record batches of an Arrow C stream; see
     * {@link #trainArrow(long, Config, ProgressListener)}.
     *
     * @param streamAddress the address of a {@code struct ArrowArrayStream}; taken over
     * @param config the training configuration
     * @return the trained model; close it when done
     * @throws DoppelException {@link Status#NULL_PARAMETER} for address 0
     */
    public static Model trainArrow(long streamAddress, Config config) {
        return trainArrow(streamAddress, config, null);
    }

    /**
     * Trains a model on the record batches of an Arrow C stream ({@code struct
     * ArrowArrayStream}), the way Arrow Java, C++, Go and Python hand a table over without
     * copying it. Columns of any type that Arrow can render as text are read; nulls are
     * missing values, and so are the texts of the configuration's {@code missing_tokens}
     * ({@code "", "?", "NA"}, ... by default), as in files. These bindings do not depend on Arrow Java: the stream travels as its
     * native address. With Arrow Java ({@code org.apache.arrow.c}), given an
     * {@code ArrowReader reader} over the table:
     *
     * <pre>{@code
     * try (BufferAllocator allocator = new RootAllocator();
     *         ArrowArrayStream stream = ArrowArrayStream.allocateNew(allocator)) {
     *     Data.exportArrayStream(allocator, reader, stream); // the stream now owns the reader
     *     try (Model model = Doppel.trainArrow(stream.memoryAddress(), config)) {
     *         model.generate(1000, 42, Path.of("synthetic.csv"));
     *     }
     * } // closing the struct after trainArrow releases nothing twice
     * }</pre>
     *
     * <p>Ownership: a non-zero stream is always taken over, whatever the outcome (an error, a
     * closed config, a cancelled training): on return it is released and its {@code release}
     * callback is NULL, so the caller only frees the struct's own memory, never releases it.
     *
     * @param streamAddress the address of an initialised {@code struct ArrowArrayStream}, e.g.
     *     Arrow Java's {@code ArrowArrayStream.memoryAddress()}; taken over
     * @param config the training configuration
     * @param listener receives progress on this thread and may cancel; may be null
     * @return the trained model; close it when done
     * @throws DoppelException {@link Status#NULL_PARAMETER} for address 0 (the library's own
     *     check), {@link Status#INVALID_DATA} for a table it cannot read, or
     *     {@link Status#CANCELLED} when the listener returned false
     */
    public static Model trainArrow(long streamAddress, Config config, ProgressListener listener) {
        ProgressBridge bridge = listener == null ? null : new ProgressBridge(listener);
        return trained(bridge, () -> trainOnStream(streamAddress, config, bridge));
    }

    /**
     * Hands the stream to the library with the live config. A call that never reaches the
     * library (no config, or a closed one) releases the stream here instead, so that callers
     * can rely on it being taken over in every case, as the library does.
     */
    private static long trainOnStream(long stream, Config config, ProgressBridge bridge) {
        boolean[] reached = {false};
        try {
            return Objects.requireNonNull(config, "config").handle().apply(c -> {
                reached[0] = true;
                return Native.trainArrow(c, stream, bridge);
            });
        } finally {
            if (!reached[0]) {
                Native.releaseArrowStream(stream);
            }
        }
    }

    /** Runs a training call and wraps its model; what the listener threw wins over CANCELLED. */
    private static Model trained(ProgressBridge bridge, LongSupplier call) {
        long address;
        try {
            address = call.getAsLong();
        } catch (DoppelException cancelled) {
            rethrowListenerFailure(bridge);
            throw cancelled;
        }
        // A listener that threw cancelled training (the library cancels even on the last
        // step), so reaching here means it did not.
        return new Model(address);
    }

    /** Rethrows what the listener threw, unchanged: it is what the caller wants to see. */
    private static void rethrowListenerFailure(ProgressBridge bridge) {
        if (bridge != null && bridge.failure() != null) {
            Doppel.<RuntimeException>sneakyThrow(bridge.failure());
        }
    }

    /** Throws any throwable unchecked (a listener may have thrown a checked one the same way). */
    @SuppressWarnings("unchecked")
    private static <T extends Throwable> void sneakyThrow(Throwable thrown) throws T {
        throw (T) thrown;
    }

    /**
     * Loads a model saved by {@link Model#save}.
     *
     * @param path the model file
     * @return the model; close it when done
     * @throws DoppelException {@link Status#INVALID_MODEL} for a file that is not a model
     */
    public static Model loadModel(Path path) {
        return new Model(Native.modelLoad(Native.cPath(path, "path")));
    }

    /**
     * A model from bytes made by {@link Model#toBytes} (copied).
     *
     * @param bytes the serialised model
     * @return the model; close it when done
     * @throws DoppelException {@link Status#INVALID_MODEL} for bytes that are not a model
     */
    public static Model modelFromBytes(byte[] bytes) {
        return new Model(Native.modelFromBytes(Objects.requireNonNull(bytes, "bytes")));
    }

    /**
     * The epsilon spent by {@code steps} Poisson-subsampled Gaussian steps.
     *
     * @param accountant the accountant
     * @param samplingRate probability that a unit joins a step, in (0, 1]
     * @param noiseMultiplier noise standard deviation over the clip norm, positive
     * @param steps the number of steps, at least 1
     * @param delta the delta of (epsilon, delta)-DP, in (0, 1)
     * @return epsilon
     * @throws DoppelException {@link Status#INVALID_ARGUMENT}, naming the bad argument
     */
    public static double privacyEpsilon(Accountant accountant, double samplingRate,
            double noiseMultiplier, long steps, double delta) {
        return Native.privacyEpsilon(Objects.requireNonNull(accountant, "accountant").code(),
                samplingRate, noiseMultiplier, unsigned(steps, "steps"), delta);
    }

    /**
     * The smallest noise multiplier that keeps {@code steps} steps within (epsilon, delta).
     *
     * @param accountant the accountant
     * @param epsilon the target epsilon, positive
     * @param delta the delta of (epsilon, delta)-DP, in (0, 1)
     * @param samplingRate probability that a unit joins a step, in (0, 1]
     * @param steps the number of steps, at least 1
     * @return the noise multiplier
     * @throws DoppelException {@link Status#INVALID_ARGUMENT}, naming the bad argument
     */
    public static double privacyNoise(Accountant accountant, double epsilon, double delta,
            double samplingRate, long steps) {
        return Native.privacyNoise(Objects.requireNonNull(accountant, "accountant").code(),
                epsilon, delta, samplingRate, unsigned(steps, "steps"));
    }

    /** A count that the library takes unsigned: a negative one would wrap to a huge one. */
    private static long unsigned(long value, String what) {
        if (value < 0) {
            throw new IllegalArgumentException(what + " must not be negative, got " + value);
        }
        return value;
    }

    /**
     * The quality and privacy report of synthetic rows against the real ones, without a
     * holdout and with default options.
     *
     * @param real the real table (CSV, Parquet or Arrow IPC)
     * @param synthetic the synthetic table
     * @return the report as JSON (the format of {@code doppel report --json})
     */
    public static String reportJson(Path real, Path synthetic) {
        return reportJson(real, synthetic, null, null);
    }

    /**
     * The quality and privacy report of synthetic rows against the real ones.
     *
     * @param real the real table (CSV, Parquet or Arrow IPC)
     * @param synthetic the synthetic table
     * @param holdout real rows not used in training, or null (no privacy score without it)
     * @param optionsJson {@code ReportOptions} fields as JSON, or null for the defaults
     * @return the report as JSON (the format of {@code doppel report --json})
     * @throws DoppelException e.g. {@link Status#INVALID_DATA} for an unknown target column
     */
    public static String reportJson(Path real, Path synthetic, Path holdout, String optionsJson) {
        byte[] holdoutPath = holdout == null ? null : Native.cPath(holdout, "holdout");
        byte[] options = optionsJson == null ? null : Native.cString(optionsJson, "optionsJson");
        return Native.text(Native.reportJson(Native.cPath(real, "real"),
                Native.cPath(synthetic, "synthetic"), holdoutPath, options));
    }
}
