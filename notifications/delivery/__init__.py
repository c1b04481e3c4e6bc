"""External delivery channels (email, APNs, FCM, Web Push). Called "delivery channels", never "channels"."""
