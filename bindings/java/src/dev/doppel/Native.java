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

    static native void modelSave(long model, byte[] path);

    static native long modelLoad(byte[] path);

    static native byte[] modelToBytes(long model);

    static native long modelFromBytes(byte[] bytes);

    static native void modelFree(long model);

    static native void generateFile(long model, long rows, long seed, byte[] path);

    static native double privacyEpsilon(int accountant, double samplingRate,
            double noiseMultiplier, long steps, double delta);

    static native double privacyNoise(int accountant, double epsilon, double delta,
            double samplingRate, long steps);

    static native byte[] reportJson(byte[] realPath, byte[] syntheticPath, byte[] holdoutPath,
            byte[] optionsJson);
}
