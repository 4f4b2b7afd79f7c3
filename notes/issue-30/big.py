import os; os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"
import numpy as np, keras, tensorflow as tf
keras.utils.set_random_seed(0)
inp = keras.Input((64, 64, 3)); x = keras.layers.Flatten()(keras.layers.Rescaling(1/255)(inp))
x = keras.layers.Dense(300, activation="relu")(x); x = keras.layers.Dense(3, activation="softmax")(x)
m = keras.Model(inp, x)
a = keras.export.ExportArchive(); a.track(m)
a.add_endpoint("serving_default", lambda images: {"probabilities": m(images)}, input_signature=[tf.TensorSpec((None,64,64,3), tf.float32, name="images")])
a.write_out("/tmp/exp30/sm_big", verbose=False)
c = tf.lite.TFLiteConverter.from_saved_model("/tmp/exp30/sm_big"); fb = c.convert()
open("/tmp/exp30/big_64x64.tflite","wb").write(fb); print(len(fb))
