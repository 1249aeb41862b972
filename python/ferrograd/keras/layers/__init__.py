"""`keras.layers`."""
from ._base import Input, InputLayer, KerasTensor, Layer
from .conv import (AveragePooling1D, AveragePooling2D, Conv1D, Conv2D, Conv2DTranspose, GlobalAveragePooling1D,
                   GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D)
from .core import (Activation, Dense, Dropout, Embedding, Flatten, LeakyReLU, Masking, Permute, ReLU, Rescaling,
                   Reshape, Softmax)
from .merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, concatenate,
                      multiply)
from .normalization import BatchNormalization, LayerNormalization
from .attention import MultiHeadAttention
from .rnn import GRU, LSTM, Bidirectional, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell

MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D
Convolution1D, Convolution2D, Conv2DTranspose = Conv1D, Conv2D, Conv2DTranspose

__all__ = ["Input", "InputLayer", "Layer", "Dense", "Embedding", "Masking", "Activation", "ReLU", "LeakyReLU", "Softmax",
           "Dropout", "Flatten", "Reshape", "Permute", "Rescaling", "Conv1D", "Conv2D", "Conv2DTranspose",
           "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D",
           "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "BatchNormalization",
           "LayerNormalization", "MultiHeadAttention", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]
