"""Tiny Keras models converted the way flowerkit converts (ExportArchive -> from_saved_model)."""
import os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np, keras, tensorflow as tf
H, W = int(sys.argv[1]), int(sys.argv[2])
out = sys.argv[3]
keras.utils.set_random_seed(0)
inp = keras.Input((H, W, 3))
x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inp)
x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
x = keras.layers.GlobalAveragePooling2D()(x)
x = keras.layers.Dense(3)(x)
model = keras.Model(inp, x)
# make the classes depend strongly on colour: R, G, B mean -> logits
w = np.zeros((8, 3), np.float32)
model.layers[-1].set_weights([np.random.RandomState(1).normal(size=(8, 3)).astype(np.float32) * 3, np.zeros(3, np.float32)])

def probabilities(images):
    return keras.ops.softmax(model(images) / 1.0)

rep = np.random.RandomState(2).randint(0, 256, size=(16, H, W, 3)).astype(np.float32)
for q in ["float32", "float16", "dynamic", "int8", "u8cast"]:
    scratch = f"/tmp/exp30/sm_{q}"
    archive = keras.export.ExportArchive()
    if q == "u8cast":  # uint8 input tensor, cast inside the model
        archive.track(model)
        archive.add_endpoint("serving_default",
            lambda images: {"probabilities": probabilities(tf.cast(images, tf.float32))},
            input_signature=[tf.TensorSpec((None, H, W, 3), tf.uint8, name="images")])
    else:
        archive.track(model)
        archive.add_endpoint("serving_default", lambda images: {"probabilities": probabilities(images)},
            input_signature=[tf.TensorSpec((None, H, W, 3), tf.float32, name="images")])
    archive.write_out(scratch, verbose=False)
    c = tf.lite.TFLiteConverter.from_saved_model(scratch)
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if q in ("float16", "dynamic", "int8"):
        c.optimizations = [tf.lite.Optimize.DEFAULT]
    if q == "float16":
        c.target_spec.supported_types = [tf.float16]
    if q == "int8":
        c.representative_dataset = lambda: ([im[np.newaxis]] for im in rep)
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        c.inference_input_type = tf.uint8
    fb = c.convert()
    open(f"{out}/{q}_{H}x{W}.tflite", "wb").write(fb)
    print(q, len(fb))
