from django.urls import path

from .tickets import WsTicketCreateView

urlpatterns: list = []
urlpatterns.append(path("ws-tickets/", WsTicketCreateView.as_view(), name="ws-ticket-create"))
