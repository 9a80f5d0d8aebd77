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
