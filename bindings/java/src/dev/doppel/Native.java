package dev.doppel;

import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The JNI shim ({@code native/doppel_jni.c}): one native method per C function, and the text
 * conversions around them. Text crosses as standard UTF-8 in byte arrays, NUL-terminated on
 * the way in, because JNI's "modified UTF-8" is not what the library expects.
 */
final class Native {
    static {
        load();
    }

    private Native() {}

    /** Loads the shim: the absolute path in {@code -Ddoppel.library}, else the library path. */
    private static void load() {
        String path = System.getProperty("doppel.library");
        if (path != null && !path.isEmpty()) {
            System.load(Path.of(path).toAbsolutePath().toString());
        } else {
            System.loadLibrary("doppel_jni");
        }
    }

    /** Text as a NUL-terminated UTF-8 C string; a NUL inside would silently cut it short. */
    static byte[] cString(String text, String what) {
        Objects.requireNonNull(text, what);
        if (text.indexOf('\0') >= 0) {
            throw new IllegalArgumentException(what + " contains a NUL character");
        }
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        byte[] terminated = new byte[utf8.length + 1];
        System.arraycopy(utf8, 0, terminated, 0, utf8.length);
        return terminated;
    }

    /** A path of the default file system as a C string (the library opens files itself). */
    static byte[] cPath(Path path, String what) {
        Objects.requireNonNull(path, what);
        if (path.getFileSystem() != FileSystems.getDefault()) {
            throw new IllegalArgumentException(what + " is not on the default file system");
        }
        return cString(path.toString(), what);
    }

    /** Text returned by the shim. */
    static String text(byte[] utf8) {
        return new String(utf8, StandardCharsets.UTF_8);
    }

    static native byte[] version();

    static native byte[] buildInfo();

    static native long configDefault();

    static native long configFromJson(byte[] json);

    static native void configFree(long config);

    static native long trainFile(long config, byte[] path, ProgressBridge bridge);

    /** The library takes the stream at {@code stream} over (0 means NULL). */
    static native long trainArrow(long config, long stream, ProgressBridge bridge);

    /**
     * Releases the Arrow C stream at {@code stream} unless it is 0 or released already: what
     * the library would have done with a stream handed to a call that never reached it.
     */
    static native void releaseArrowStream(long stream);

    static native void modelSave(long model, byte[] path);

    static native long modelLoad(byte[] path);

    static native byte[] modelToBytes(long model);

    static native long modelFromBytes(byte[] bytes);

    static native void modelFree(long model);

    static native void generateFile(long model, long rows, long seed, byte[] path);

    static native void generateArrow(long model, long rows, long seed, long stream);

    /** The library takes the stream at {@code seed} over (0 means none). */
    static native void generateSteeredFile(long model, byte[] options, long seed, byte[] path);

    /** The library takes the stream at {@code seed} over (0 means none). */
    static native void generateSteeredArrow(long model, byte[] options, long seed, long stream);

    /** The library takes the stream at {@code table} over (0 means NULL). */
    static native void imputeFile(long model, byte[] options, long table, long draws, byte[] path);

    /**
     * The library takes the stream at {@code training} over (0 means NULL); returns the count
     * of rows dropped.
     */
    static native long generateFilteredFile(long model, byte[] options, long training,
            double distance, byte[] path);

    static native double privacyEpsilon(int accountant, double samplingRate,
            double noiseMultiplier, long steps, double delta);

    static native double privacyNoise(int accountant, double epsilon, double delta,
            double samplingRate, long steps);

    static native byte[] reportJson(byte[] realPath, byte[] syntheticPath, byte[] holdoutPath,
            byte[] optionsJson);

    // Test-only: an Arrow C stream consumer in the shim, so that DoppelTest needs no Arrow Java.

    /** A zeroed {@code struct ArrowArrayStream} (release NULL) in native memory, for tests. */
    static native long allocateArrowStream();

    /** Releases the stream at {@code stream} if it is not released, then frees its memory. */
    static native void freeArrowStream(long stream);

    /** Whether the stream's release callback is NULL: released, moved out or never filled. */
    static native boolean arrowStreamReleased(long stream);

    /**
     * Reads the whole stream in C and releases it. Returns UTF-8 lines: {@code ROWS\tDIGEST}
     * (a hash of every value), then per column {@code NAME\tFORMAT\tNULLS\tMIN\tMAX} (MIN
     * and MAX for Int64 columns, else "-"). Throws IllegalStateException for a released or
     * failing stream.
     */
    static native byte[] readArrowStream(long stream);
}
