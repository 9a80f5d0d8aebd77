package dev.doppel;

import java.nio.file.Path;

/**
 * A trained model. Generation only reads it: any number of threads may call
 * {@link #generate} and {@link #generateArrow} at once. {@link #close} waits for calls in
 * flight; using a closed model throws {@link IllegalStateException}.
 */
public final class Model implements AutoCloseable {
    private final Handle handle;

    Model(long address) {
        handle = new Handle(address, Native::modelFree, "model");
    }

    /**
     * Generates synthetic rows into a file whose format follows its extension ({@code .csv},
     * {@code .parquet}, {@code .arrow}, ...); the file appears only once complete. The same
     * seed gives the same rows.
     *
     * @param rows how many rows, at least 0
     * @param seed the random seed (all 64 bits are used)
     * @param path the output file
     * @throws DoppelException when the file cannot be written, or {@link Status#INVALID_ARGUMENT}
     *     for an extension that names no format
     */
    public void generate(long rows, long seed, Path path) {
        checkRows(rows);
        byte[] file = Native.cPath(path, "path");
        handle.accept(model -> Native.generateFile(model, rows, seed, file));
    }

    /**
     * Generates synthetic rows into an Arrow C stream ({@code struct ArrowArrayStream}) that
     * the caller allocated, for Arrow Java, C++, Go or Python to read without copying. The
     * stream yields batches of up to 1,024 rows, made as they are asked for, with the training
     * columns in order: Int64 for integer columns, Float64 for floats, Utf8 otherwise, missing
     * values as nulls; the rows are those {@link #generate} writes for the same seed. The
     * stream holds its own reference to the model, so the model may be closed before the
     * stream is read. Like every Arrow stream it is read from one thread at a time; one model
     * may fill streams on many threads at once. These bindings do not depend on Arrow Java:
     * the stream travels as its native address. With Arrow Java ({@code org.apache.arrow.c}):
     *
     * <pre>{@code
     * try (BufferAllocator allocator = new RootAllocator();
     *         ArrowArrayStream stream = ArrowArrayStream.allocateNew(allocator)) {
     *     model.generateArrow(1000, 42, stream.memoryAddress());
     *     try (ArrowReader reader = Data.importArrayStream(allocator, stream)) {
     *         while (reader.loadNextBatch()) {
     *             VectorSchemaRoot batch = reader.getVectorSchemaRoot();
     *             System.out.println(batch.getRowCount() + " rows");
     *         }
     *     }
     * }
     * }</pre>
     *
     * <p>Given only an address, {@code ArrowArrayStream.wrap(address)} makes the struct to
     * import. The stream is written on success only; whatever the storage held before is
     * overwritten, not released, so it must not hold a live stream. The caller releases the
     * filled stream (importing it into Arrow Java hands that over to the reader).
     *
     * @param rows how many rows, at least 0
     * @param seed the random seed (all 64 bits are used)
     * @param streamAddress the address of writable storage for a {@code struct
     *     ArrowArrayStream}, e.g. Arrow Java's {@code ArrowArrayStream.memoryAddress()}
     * @throws DoppelException {@link Status#NULL_PARAMETER} for address 0 (the library's own
     *     check)
     */
    public void generateArrow(long rows, long seed, long streamAddress) {
        checkRows(rows);
        handle.accept(model -> Native.generateArrow(model, rows, seed, streamAddress));
    }

    /**
     * Steered generation into a file (formats as in {@link #generate}). {@code optionsJson} is
     * a JSON object with any of the keys {@code rows}, {@code seed}, {@code where} (conditions
     * every row satisfies, such as {@code "age >= 60 and sex = Female"}), {@code rebalance}
     * ({@code "sex=Female:0.5"}), {@code fair} ({@code "target=income sensitive=sex"}),
     * {@code sampling} and {@code batch_size}. A seed stream, if given, yields one row per
     * seed row, its non-null cells kept exactly and the others generated given them.
     *
     * <p>Ownership: a non-zero {@code seedStreamAddress} is always taken over, whatever the
     * outcome, as {@link Doppel#trainArrow(long, Config)} takes its stream (so it must not be
     * the address of an output stream).
     *
     * @param optionsJson the options object, such as {@code {"rows": 500, "where": "age >= 60"}}
     * @param seedStreamAddress the address of an initialised {@code struct ArrowArrayStream}
     *     of seed rows, or 0 for none
     * @param path the output file
     * @throws DoppelException {@link Status#INVALID_CONFIG} naming an unknown key, or a
     *     condition or share no generated row can meet (nothing is written), or
     *     {@link Status#INVALID_DATA} for a seed the model cannot take (naming row and column)
     */
    public void generateSteered(String optionsJson, long seedStreamAddress, Path path) {
        withStream(seedStreamAddress, () -> {
            byte[] options = Native.cString(optionsJson, "optionsJson");
            byte[] file = Native.cPath(path, "path");
            handle.accept(model ->
                    Native.generateSteeredFile(model, options, seedStreamAddress, file));
        });
    }

    /**
     * Steered generation into an Arrow C stream: the options and seed of
     * {@link #generateSteered}, the stream of {@link #generateArrow}.
     *
     * @param optionsJson the options object
     * @param seedStreamAddress a seed stream (taken over), or 0 for none
     * @param streamAddress writable storage for the generated {@code struct ArrowArrayStream}
     * @throws DoppelException as {@link #generateSteered} does
     */
    public void generateSteeredArrow(String optionsJson, long seedStreamAddress,
            long streamAddress) {
        withStream(seedStreamAddress, () -> {
            byte[] options = Native.cString(optionsJson, "optionsJson");
            handle.accept(model -> Native.generateSteeredArrow(
                    model, options, seedStreamAddress, streamAddress));
        });
    }

    /**
     * Writes the rows of an Arrow C stream to a file with their null cells filled by draws
     * from the model given each row's known cells; known cells are never changed. With more
     * than one draw, each filled cell takes the typical value of its draws (the median of a
     * number's, the most frequent of any other cell's).
     *
     * @param optionsJson the options object ({@code seed} and {@code sampling} are read)
     * @param tableStreamAddress the table's {@code struct ArrowArrayStream}, always taken over
     * @param draws draws per cell, at least 1
     * @param path the output file
     * @throws DoppelException {@link Status#NULL_PARAMETER} for address 0
     */
    public void impute(String optionsJson, long tableStreamAddress, long draws, Path path) {
        withStream(tableStreamAddress, () -> {
            if (draws < 1) {
                throw new IllegalArgumentException("draws must be at least 1, got " + draws);
            }
            byte[] options = Native.cString(optionsJson, "optionsJson");
            byte[] file = Native.cPath(path, "path");
            handle.accept(model ->
                    Native.imputeFile(model, options, tableStreamAddress, draws, file));
        });
    }

    /**
     * Generation through the privacy filter into a file: the rows of {@link #generateSteered}
     * (the same options; no seed stream) less those within {@code distance} of a row of the
     * training stream (the mean over the columns of a per-cell distance in [0, 1]), generating
     * on until {@code rows} are written. The filter guards against copies of training rows; it
     * is no privacy guarantee of its own.
     *
     * @param optionsJson the options object, as for {@link #generateSteered}
     * @param trainingStreamAddress the training rows' {@code struct ArrowArrayStream}, always
     *     taken over
     * @param distance the distance within which rows are dropped, in [0, 1); 0 drops exact
     *     copies only
     * @param path the output file
     * @return how many generated rows were dropped
     * @throws DoppelException {@link Status#INVALID_CONFIG} for a model trained with DP or a
     *     distance outside [0, 1), {@link Status#NULL_PARAMETER} for address 0
     */
    public long generateFiltered(String optionsJson, long trainingStreamAddress, double distance,
            Path path) {
        long[] dropped = new long[1];
        withStream(trainingStreamAddress, () -> {
            byte[] options = Native.cString(optionsJson, "optionsJson");
            byte[] file = Native.cPath(path, "path");
            dropped[0] = handle.apply(model -> Native.generateFilteredFile(
                    model, options, trainingStreamAddress, distance, file));
        });
        return dropped[0];
    }

    /**
     * Runs {@code call}, which hands {@code stream} to the library; if it fails before the
     * library took the stream (a bad argument, a closed model), releases it here, so that the
     * stream is taken over on every path.
     */
    private static void withStream(long stream, Runnable call) {
        try {
            call.run();
        } finally {
            Native.releaseArrowStream(stream);
        }
    }

    /** The library takes counts unsigned: a negative one would wrap to a huge one. */
    private static void checkRows(long rows) {
        if (rows < 0) {
            throw new IllegalArgumentException("rows must not be negative, got " + rows);
        }
    }

    /**
     * Saves the model to a file (written to a temporary file, then renamed).
     *
     * @param path the model file
     * @throws DoppelException when the file cannot be written
     */
    public void save(Path path) {
        byte[] file = Native.cPath(path, "path");
        handle.accept(model -> Native.modelSave(model, file));
    }

    /**
     * Serialises the model, for {@link Doppel#modelFromBytes}.
     *
     * @return the model's bytes
     */
    public byte[] toBytes() {
        return handle.apply(Native::modelToBytes);
    }

    /** Releases the model once calls in flight are done; idempotent. */
    @Override
    public void close() {
        handle.close();
    }
}
